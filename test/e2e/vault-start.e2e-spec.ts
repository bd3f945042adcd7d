import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findFreePort } from '../../src/database/embedded-postgres';
import { waitForHttp } from '../support/app-process';
import { waitFor } from '../support/wait-for';

const ROOT = path.resolve(__dirname, '../..');

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** PIDs of the live processes whose command line contains `needle` (from /proc). */
function pidsRunning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(needle)) pids.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return pids;
}

describe('npm start (hardening #22)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ni-start-'));
    await chmod(dir, 0o755); // the embedded server may run as the postgres user
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM to the npm process (what `docker stop` sends) stops the app and the embedded PostgreSQL (hardening #22)', async () => {
    // The project's start script, verbatim, run by npm in a scratch package whose build is a
    // no-op and whose dist/ is this checkout's (built by `pretest`): rebuilding here would
    // rewrite files that other suites are running.
    const { scripts } = JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(scripts.start).toMatch(/^npm run build && /);
    await writeFile(
      path.join(dir, 'package.json'),
      JSON.stringify({
        name: 'start-probe',
        private: true,
        scripts: { build: 'node -e ""', start: scripts.start },
      }),
    );
    await symlink(path.join(ROOT, 'dist'), path.join(dir, 'dist'));
    const dataDir = path.join(dir, 'pg');
    const port = await findFreePort();
    const npm = spawn('npm', ['start'], {
      cwd: dir,
      env: {
        ...process.env,
        DATABASE_URL: '',
        EMBEDDED_PG_DATA_DIR: dataDir,
        EMBEDDED_PG_PORT: String(await findFreePort()),
        PORT: String(port),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (c: Buffer) => (output += c.toString()));
    npm.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    let appPids: number[] = [];
    let postgresPid = 0;
    try {
      const res = await waitForHttp(`http://127.0.0.1:${port}/health`, 60_000);
      expect(res.status).toBe(200);
      // node (and the shell npm ran the script in, while it lives) of this run only.
      appPids = pidsRunning(path.join('dist', 'src', 'main.js')).filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, 'utf8').includes(
            `EMBEDDED_PG_DATA_DIR=${dataDir}`,
          );
        } catch {
          return false;
        }
      });
      expect(appPids.length).toBeGreaterThan(0);
      postgresPid = Number(
        (await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0],
      );
      expect(isAlive(postgresPid)).toBe(true);

      npm.kill('SIGTERM');
      await npmExited;
      await waitFor(
        () => appPids.every((pid) => !isAlive(pid)) && !isAlive(postgresPid),
        20_000,
        'the app and its embedded PostgreSQL to exit after SIGTERM to npm',
      );
      expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
    } catch (error) {
      throw new Error(`${String(error)}\n--- npm start output ---\n${output}`, { cause: error });
    } finally {
      // Never leave processes behind, whatever happened above.
      for (const pid of appPids) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      if (postgresPid && isAlive(postgresPid)) process.kill(postgresPid, 'SIGINT');
      if (npm.exitCode === null && npm.signalCode === null) npm.kill('SIGKILL');
      await waitFor(() => !postgresPid || !isAlive(postgresPid), 20_000, 'cleanup');
    }
  });
});
