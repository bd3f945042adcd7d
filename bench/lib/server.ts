import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { Client, Pool } from 'pg';
import { migrateLatest } from '../../db/migrator';
import { maskDatabaseUrl, withDatabase } from '../../src/database/database-url';
import { EmbeddedPostgresServer } from '../../src/database/embedded-postgres';

/** Settings of the embedded benchmark server: durability stays ON (fsync, synchronous_commit). */
export const EMBEDDED_BENCH_SETTINGS: Readonly<Record<string, string | number>> = {
  max_connections: 200,
  shared_buffers: '512MB',
  max_wal_size: '4GB',
  checkpoint_timeout: '15min',
};

/** Server settings reported with the results. */
const REPORTED_SETTINGS = [
  'fsync',
  'synchronous_commit',
  'wal_sync_method',
  'full_page_writes',
  'shared_buffers',
  'max_connections',
  'max_wal_size',
  'checkpoint_timeout',
  'wal_level',
  'autovacuum',
];

/** A database of its own for one scenario run. */
export interface BenchDatabase {
  readonly name: string;
  readonly url: string;
}

/** The one PostgreSQL server all scenarios of a run use. */
export class BenchServer {
  private counter = 0;
  private constructor(
    readonly adminUrl: string,
    readonly embedded: EmbeddedPostgresServer | undefined,
    private readonly tmpDir: string | undefined,
    private readonly runId: string,
  ) {}

  /** Embedded PostgreSQL with durability on, or the server of `DATABASE_URL`. */
  static async start(databaseUrl = process.env.DATABASE_URL): Promise<BenchServer> {
    const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`;
    if (databaseUrl) return new BenchServer(databaseUrl, undefined, undefined, runId);
    const tmpDir = await mkdtemp(path.join(tmpdir(), 'ni-bench-pg-'));
    await chmod(tmpDir, 0o755);
    const server = new EmbeddedPostgresServer({
      dataDir: path.join(tmpDir, 'data'),
      port: 0,
      settings: EMBEDDED_BENCH_SETTINGS,
    });
    await server.start();
    return new BenchServer(server.url('postgres'), server, tmpDir, runId);
  }

  get description(): string {
    return this.embedded ? 'embedded (embedded-postgres binaries)' : maskDatabaseUrl(this.adminUrl);
  }

  /** A new empty database; with `migrate`, this project's migrations applied. */
  async createDatabase(label: string, options: { migrate?: boolean } = {}): Promise<BenchDatabase> {
    const name =
      `ni_bench_${this.runId}_${++this.counter}_${label.replace(/[^a-z0-9]/gi, '').toLowerCase()}`.slice(
        0,
        63,
      );
    await this.admin((c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
    const url = withDatabase(this.adminUrl, name);
    if (options.migrate !== false) await migrateLatest(url);
    return { name, url };
  }

  async dropDatabase(db: BenchDatabase): Promise<void> {
    await this.admin((c) =>
      c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(db.name)} WITH (FORCE)`),
    );
  }

  /** Runs `fn` on a fresh database and drops it afterwards. */
  async withDatabase<T>(
    label: string,
    fn: (db: BenchDatabase) => Promise<T>,
    options: { migrate?: boolean } = {},
  ): Promise<T> {
    const db = await this.createDatabase(label, options);
    try {
      return await fn(db);
    } finally {
      await this.dropDatabase(db);
    }
  }

  /**
   * Committed transactions of `db` so far (pg_stat_database.xact_commit), read from the admin
   * database so the reading itself commits nothing in `db`. With `settled`, first waits until
   * no client is connected to `db`: a backend reports its last commits only when it exits (and
   * pg's `Pool.end()` resolves before the server backends are gone).
   */
  async committed(db: BenchDatabase, options: { settled?: boolean } = {}): Promise<number> {
    return this.admin(async (c) => {
      if (options.settled) {
        const deadline = Date.now() + 15_000;
        for (;;) {
          const { rows } = await c.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
            [db.name],
          );
          if (rows[0]!.n === 0) break;
          if (Date.now() > deadline)
            throw new Error(`${rows[0]!.n} connection(s) to ${db.name} still open`);
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      await c.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await c.query<{ n: string }>(
        'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = $1',
        [db.name],
      );
      return Number(rows[0]!.n);
    });
  }

  /** Server version and the settings that matter for the figures. */
  async describe(): Promise<{ version: string; settings: Record<string, string> }> {
    return this.admin(async (c) => {
      const version = (await c.query<{ v: string }>('SELECT version() AS v')).rows[0]!.v;
      const { rows } = await c.query<{ name: string; setting: string; unit: string | null }>(
        `SELECT name, setting, unit FROM pg_settings WHERE name = ANY($1::text[]) ORDER BY name`,
        [REPORTED_SETTINGS],
      );
      const settings: Record<string, string> = {};
      for (const r of rows) settings[r.name] = r.unit ? `${r.setting} (${r.unit})` : r.setting;
      return { version, settings };
    });
  }

  async stop(): Promise<void> {
    if (this.embedded) await this.embedded.stop();
    if (this.tmpDir) await rm(this.tmpDir, { recursive: true, force: true });
  }

  private async admin<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    const client = new Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      return await fn(client);
    } finally {
      await client.end();
    }
  }
}

/** The machine the figures come from. */
export function describeMachine(): Record<string, string | number> {
  const cpu = cpus();
  return {
    cpus: cpu.length,
    cpuModel: cpu[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  };
}

/** Committed transactions of a database so far (pg_stat_database; flushed when backends exit). */
export async function xactCommit(url: string): Promise<number> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ n: string }>(
      'SELECT xact_commit AS n FROM pg_stat_database WHERE datname = current_database()',
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

/**
 * A pg pool whose idle-client errors are ignored (the server may drop connections on DROP
 * DATABASE); with `pipeline`, its clients send statements without waiting for earlier results.
 */
export function benchPool(url: string, max: number, options: { pipeline?: boolean } = {}): Pool {
  const pool = new Pool({ connectionString: url, max, pipeline: options.pipeline === true });
  pool.on('error', () => undefined);
  return pool;
}
