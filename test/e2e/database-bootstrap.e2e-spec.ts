import { existsSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { migrateLatest, migrateRollback } from '../../db/migrator';
import { bootstrapDatabase, waitForDatabase } from '../../src/database/database-bootstrap';
import { databaseName, maskDatabaseUrl, withDatabase } from '../../src/database/database-url';
import { DatabaseUnavailableError } from '../../src/database/database-unavailable.error';
import { EmbeddedPostgresAccessError } from '../../src/database/embedded-postgres-access.error';
import { EmbeddedPostgresServer, findFreePort } from '../../src/database/embedded-postgres';
import { spawnApp } from '../support/app-process';
import { JitterMode, resolveRetryPolicy } from '../../src/integration/utils/retry';
import { createTestDatabase } from '../support/test-database';

async function publicTables(url: string): Promise<string[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ tablename: string }>(
      "select tablename from pg_tables where schemaname = 'public' order by tablename",
    );
    return rows.map((r) => r.tablename);
  } finally {
    await client.end();
  }
}

const APP_TABLES = [
  'inbox_event',
  'integration_consumer',
  'integration_consumer_host',
  'integration_delivery',
  'integration_link',
  'integration_sequencer',
  'outbox_event',
  'vault',
  'vault_ledger',
  'vault_notification',
  'vault_operation',
];

describe('database URLs', () => {
  it('masks passwords', () => {
    expect(maskDatabaseUrl('postgres://app:s3cr%40t@db.example:5432/app')).toBe(
      'postgres://app:***@db.example:5432/app',
    );
    expect(maskDatabaseUrl('postgres://app@db/app')).toBe('postgres://app@db/app');
    expect(maskDatabaseUrl('not a url://u:pw@h')).toBe('not a url://u:***@h');
  });

  it('switches and reads database names', () => {
    expect(withDatabase('postgres://u:p@h:1/a?sslmode=disable', 'b')).toBe(
      'postgres://u:p@h:1/b?sslmode=disable',
    );
    expect(databaseName('postgres://u@h/x%20y')).toBe('x y');
    expect(databaseName('postgres://u@h')).toBe('postgres');
  });
});

describe('migrations', () => {
  it('latest creates every table; rollback --all leaves only Knex bookkeeping; latest again works', async () => {
    const db = await createTestDatabase({ migrated: false });
    try {
      expect(await publicTables(db.url)).toEqual([]);
      const applied = await migrateLatest(db.url);
      expect(applied).toEqual([
        '20261122000001_integration_tables',
        '20261122000002_vault_tables',
        '20261130000001_vault_idempotency_scope',
        '20261201000001_per_consumer_delivery',
        '20261201000002_per_consumer_only',
        '20261201000003_admin_audit_and_stats',
        '20261201000004_tenant_columns',
        '20261203000001_tenant_lane',
      ]);
      expect(await publicTables(db.url)).toEqual(expect.arrayContaining(APP_TABLES));

      expect(await migrateLatest(db.url)).toEqual([]);

      const undone = await migrateRollback(db.url, true);
      expect(undone).toHaveLength(8);
      expect(await publicTables(db.url)).toEqual(['knex_migrations', 'knex_migrations_lock']);

      await migrateLatest(db.url);
      expect(await publicTables(db.url)).toEqual(expect.arrayContaining(APP_TABLES));
    } finally {
      await db.drop();
    }
  });
});

describe('start-up connection', () => {
  const fast = resolveRetryPolicy({
    baseDelayMs: 5,
    maxDelayMs: 20,
    maxAttempts: 3,
    jitter: JitterMode.None,
  });

  it('fails after the bounded retries with one error naming the URL, password masked', async () => {
    const port = await findFreePort(); // nothing listens there
    const url = `postgres://app:hunter2@127.0.0.1:${port}/app`;
    const error = await waitForDatabase(url, { retryPolicy: fast }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseUnavailableError);
    const e = error as DatabaseUnavailableError;
    expect(e.attempts).toBe(3);
    expect(e.maskedUrl).toBe(`postgres://app:***@127.0.0.1:${port}/app`);
    expect(e.message).toContain(`postgres://app:***@127.0.0.1:${port}/app after 3 attempt(s)`);
    expect(e.message).not.toContain('hunter2');
  });

  it('bootstraps an existing database from its URL and migrates it', async () => {
    const db = await createTestDatabase({ migrated: false });
    try {
      const handle = await bootstrapDatabase({ databaseUrl: db.url, retryPolicy: fast });
      expect(handle.url).toBe(db.url);
      expect(handle.embedded).toBeUndefined();
      expect(await publicTables(db.url)).toEqual(expect.arrayContaining(APP_TABLES));
      await handle.close();
    } finally {
      await db.drop();
    }
  });
});

describe('embedded PostgreSQL as root in a directory its user cannot enter (hardening #23)', () => {
  // The server runs as another user only when this process is root (as on the CI machines);
  // otherwise it runs as this user, who can enter the directory, so it must simply start.
  const isRoot = process.getuid?.() === 0;
  let locked: string;

  beforeAll(async () => {
    locked = await mkdtemp(path.join(tmpdir(), 'ni-locked-')); // mode 0700, like /root
  });
  afterAll(async () => {
    await rm(locked, { recursive: true, force: true });
  });

  const startsAndAnswers = async (dataDir: string): Promise<void> => {
    const server = new EmbeddedPostgresServer({ dataDir, port: 0 });
    await server.start();
    try {
      const client = new Client({ connectionString: server.url() });
      await client.connect();
      await client.end();
    } finally {
      await server.stop();
    }
  };

  it(
    isRoot
      ? 'as root: fails before initdb with one message naming the directory and the fix; the fix works (hardening #23)'
      : 'not as root: starts, since the server runs as this user (hardening #23)',
    async () => {
      const dataDir = path.join(locked, 'checkout', '.data', 'postgres');
      if (!isRoot) {
        await startsAndAnswers(dataDir);
        return;
      }
      const server = new EmbeddedPostgresServer({ dataDir, port: 0 });
      const error = await server.start().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(EmbeddedPostgresAccessError);
      const e = error as EmbeddedPostgresAccessError;
      expect(e.blockedDirs).toEqual([locked]);
      expect(e.message).toContain(`which cannot enter ${locked}`);
      expect(e.message).toContain('EMBEDDED_PG_DATA_DIR=');
      expect(e.message).toContain(`chmod o+x ${locked}`);
      expect(existsSync(dataDir)).toBe(false);

      // `npm start` says the same, once, and exits 1.
      const app = spawnApp({ DATABASE_URL: '', EMBEDDED_PG_DATA_DIR: dataDir, PORT: '0' });
      const exit = await app.exited;
      expect(exit.code).toBe(1);
      expect(app.output().split(`which cannot enter ${locked}`)).toHaveLength(2);
      expect(app.output()).not.toContain('EACCES');

      // The advice in the message is enough.
      await chmod(locked, 0o701);
      await startsAndAnswers(dataDir);
    },
  );
});
