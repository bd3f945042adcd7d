import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';
import { Client } from 'pg';
import { integrationMigrationSource, MIGRATIONS_TABLE } from '../../src/integration';
import { migrationLockKeys } from '../../src/integration/database/migration-runner';
import { runCliProcess } from '../support/cli-process';
import {
  compareSnapshots,
  MODULE_TABLES,
  readSchemaSnapshot,
  type SchemaSnapshot,
} from '../support/schema-drift';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const APPLIED =
  'Applied 0001_integration_tables to schema "public"\n' +
  'Applied 0002_per_consumer_delivery to schema "public"\n' +
  'Applied 0003_per_consumer_only to schema "public"\n' +
  'Applied 0004_admin_audit_and_stats to schema "public"\n' +
  'Applied 0005_tenant_columns to schema "public"\n' +
  'Applied 0006_tenant_lane to schema "public"\n';
const NOTHING = 'Nothing to apply: schema "public" is up to date (6 applied)\n';

/** Relations (tables, indexes, sequences…) of `schema`, as "name kind". */
async function relationsIn(url: string, schema: string): Promise<string[]> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ r: string }>(
      `SELECT c.relname || ' ' || c.relkind::text AS r FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`,
      [schema],
    );
    return rows.map((row) => row.r);
  });
}

function hasPsql(): boolean {
  try {
    execFileSync('psql', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('the module schema from the package: CLI, SQL, Knex source (issue 12)', () => {
  const dropLater: TestDatabase[] = [];
  let knexMigrated: SchemaSnapshot;

  async function emptyDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase({ migrated: false });
    dropLater.push(db);
    return db;
  }

  beforeAll(async () => {
    // The reference: this repository's Knex migrations (the run's template database).
    const migrated = await createTestDatabase();
    dropLater.push(migrated);
    knexMigrated = await readSchemaSnapshot(migrated.url, { tables: MODULE_TABLES });
    expect(Object.keys(knexMigrated).sort()).toEqual([...MODULE_TABLES].sort());
  });
  afterAll(async () => {
    await Promise.all(dropLater.map((db) => db.drop()));
  });

  it('migrate on an empty database gives exactly the tables the Knex migrations give (issue 12 acceptance #3)', async () => {
    const db = await emptyDatabase();
    const run = await runCliProcess(['migrate', '--database-url', db.url]);
    expect(run).toEqual({ code: 0, stdout: APPLIED, stderr: '' });
    const created = await readSchemaSnapshot(db.url, { tables: MODULE_TABLES });
    expect(compareSnapshots(knexMigrated, created)).toEqual([]);
    expect(await relationsIn(db.url, 'public')).toContain(`${MIGRATIONS_TABLE} r`);
  });

  it('the snapshot comparison reports a changed default, index and constraint (issue 12 acceptance #3)', async () => {
    const db = await emptyDatabase();
    expect((await runCliProcess(['migrate', '--database-url', db.url])).code).toBe(0);
    await withClient(db.url, async (client) => {
      await client.query(`ALTER TABLE inbox_event ALTER COLUMN attempt_count SET DEFAULT 1`);
      await client.query(`DROP INDEX outbox_event_created_idx`);
      await client.query(
        `ALTER TABLE integration_link DROP CONSTRAINT integration_link_type_check`,
      );
    });
    const problems = compareSnapshots(
      knexMigrated,
      await readSchemaSnapshot(db.url, { tables: MODULE_TABLES }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^inbox_event: missing column #4 attempt_count integer NOT NULL default=0 /,
        ),
        expect.stringMatching(
          /^inbox_event: unexpected column #4 attempt_count integer NOT NULL default=1 /,
        ),
        expect.stringMatching(
          /^outbox_event: missing index CREATE INDEX outbox_event_created_idx /,
        ),
        expect.stringMatching(
          /^integration_link: missing constraint integration_link_type_check c CHECK/,
        ),
      ]),
    );
    expect(problems).toHaveLength(4);
  });

  it('sql output applied by psql gives exactly the tables the Knex migrations give (issue 12 acceptance #3)', async () => {
    const db = await emptyDatabase();
    const run = await runCliProcess(['sql']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).not.toContain('${');
    if (hasPsql()) {
      const dir = mkdtempSync(path.join(tmpdir(), 'ni-sql-'));
      try {
        const file = path.join(dir, 'nestjs-integration.sql');
        writeFileSync(file, run.stdout);
        execFileSync('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-1', '-f', file, db.url], {
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    } else {
      // No psql on this machine: the same text through pg's simple query protocol.
      await withClient(db.url, (client) => client.query(run.stdout));
    }
    const created = await readSchemaSnapshot(db.url, { tables: MODULE_TABLES });
    expect(compareSnapshots(knexMigrated, created)).toEqual([]);
    // It records nothing: no bookkeeping table, only the module's tables and their objects.
    expect(await relationsIn(db.url, 'public')).not.toContain(`${MIGRATIONS_TABLE} r`);
  });

  it('a second migrate applies nothing, and status reports every migration applied (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    const before = await runCliProcess(['status'], { DATABASE_URL: db.url });
    expect(before).toEqual({
      code: 0,
      stdout:
        'Schema "public": 0 applied, 6 pending\n  0001_integration_tables  pending\n' +
        '  0002_per_consumer_delivery  pending\n  0003_per_consumer_only  pending\n' +
        '  0004_admin_audit_and_stats  pending\n  0005_tenant_columns  pending\n' +
        '  0006_tenant_lane  pending\n',
      stderr: '',
    });
    expect(await relationsIn(db.url, 'public')).toEqual([]); // status only reads

    expect((await runCliProcess(['migrate'], { DATABASE_URL: db.url })).stdout).toBe(APPLIED);
    const again = await runCliProcess(['migrate', '--database-url', db.url]);
    expect(again).toEqual({ code: 0, stdout: NOTHING, stderr: '' });

    const after = await runCliProcess(['status', '--database-url', db.url]);
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(
      /^Schema "public": 6 applied, 0 pending\n {2}0001_integration_tables {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z\n {2}0002_per_consumer_delivery {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z\n {2}0003_per_consumer_only {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z\n {2}0004_admin_audit_and_stats {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z\n {2}0005_tenant_columns {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z\n {2}0006_tenant_lane {2}applied \d{4}-\d\d-\d\dT[\d:.]+Z\n$/,
    );
    const rows = await withClient(
      db.url,
      async (c) => (await c.query(`SELECT version, name FROM ${MIGRATIONS_TABLE}`)).rows,
    );
    expect(rows).toEqual([
      { version: '0001', name: 'integration_tables' },
      { version: '0002', name: 'per_consumer_delivery' },
      { version: '0003', name: 'per_consumer_only' },
      { version: '0004', name: 'admin_audit_and_stats' },
      { version: '0005', name: 'tenant_columns' },
      { version: '0006', name: 'tenant_lane' },
    ]);
  });

  it('two migrate processes started together: one applies, the other waits and finds nothing to do (issue 12 acceptance #4)', async () => {
    const db = await emptyDatabase();
    const holder = new Client({ connectionString: db.url });
    await holder.connect();
    try {
      // Hold the runner's lock so both processes are certainly waiting on it together.
      await holder.query('SELECT pg_advisory_lock($1, $2)', [...migrationLockKeys('public')]);
      const runs = [
        runCliProcess(['migrate', '--database-url', db.url]),
        runCliProcess(['migrate', '--database-url', db.url]),
      ];
      await waitFor(
        async () => {
          const { rows } = await holder.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = current_database() AND application_name = 'nestjs-integration'
                AND wait_event_type = 'Lock' AND wait_event = 'advisory'`,
          );
          return rows[0]!.n === 2;
        },
        30_000,
        'both migrate processes to wait on the advisory lock',
      );
      // Nothing was created while they waited.
      expect(await relationsIn(db.url, 'public')).toEqual([]);
      await holder.query('SELECT pg_advisory_unlock($1, $2)', [...migrationLockKeys('public')]);
      const results = await Promise.all(runs);
      expect(results.map((r) => r.code)).toEqual([0, 0]);
      expect(results.map((r) => r.stderr)).toEqual(['', '']);
      expect(results.map((r) => r.stdout).sort()).toEqual([APPLIED, NOTHING]);
      const { rows } = await holder.query(`SELECT version FROM ${MIGRATIONS_TABLE}`);
      expect(rows).toEqual([
        { version: '0001' },
        { version: '0002' },
        { version: '0003' },
        { version: '0004' },
        { version: '0005' },
        { version: '0006' },
      ]);
    } finally {
      await holder.end();
    }
  });

  it('--schema integration puts every table and the bookkeeping table there, nothing in public (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    const run = await runCliProcess([
      'migrate',
      '--database-url',
      db.url,
      '--schema',
      'integration',
    ]);
    expect(run).toEqual({
      code: 0,
      stdout:
        'Applied 0001_integration_tables to schema "integration"\n' +
        'Applied 0002_per_consumer_delivery to schema "integration"\n' +
        'Applied 0003_per_consumer_only to schema "integration"\n' +
        'Applied 0004_admin_audit_and_stats to schema "integration"\n' +
        'Applied 0005_tenant_columns to schema "integration"\n' +
        'Applied 0006_tenant_lane to schema "integration"\n',
      stderr: '',
    });
    expect(await relationsIn(db.url, 'public')).toEqual([]);
    const tables = (await relationsIn(db.url, 'integration')).filter((r) => r.endsWith(' r'));
    expect(tables).toEqual([
      'inbox_event r',
      'integration_audit r',
      'integration_consumer r',
      'integration_consumer_host r',
      'integration_consumer_stats r',
      'integration_delivery r',
      'integration_link r',
      'integration_sequencer r',
      `${MIGRATIONS_TABLE} r`,
      'outbox_event r',
    ]);
    const created = await readSchemaSnapshot(db.url, {
      schema: 'integration',
      tables: MODULE_TABLES,
    });
    expect(compareSnapshots(knexMigrated, created)).toEqual([]);

    const status = await runCliProcess([
      'status',
      '--database-url',
      db.url,
      '--schema',
      'integration',
    ]);
    expect(status.stdout).toMatch(/^Schema "integration": 6 applied, 0 pending\n/);
    const publicStatus = await runCliProcess(['status', '--database-url', db.url]);
    expect(publicStatus.stdout).toMatch(/^Schema "public": 0 applied, 6 pending\n/);
  });

  it('sql --schema integration applied through pg creates the schema and its tables, nothing in public (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    const run = await runCliProcess(['sql', '--schema', 'integration']);
    expect(run.code).toBe(0);
    await withClient(db.url, (client) => client.query(run.stdout));
    expect(await relationsIn(db.url, 'public')).toEqual([]);
    const created = await readSchemaSnapshot(db.url, {
      schema: 'integration',
      tables: MODULE_TABLES,
    });
    expect(compareSnapshots(knexMigrated, created)).toEqual([]);
  });

  it('refuses an invalid schema name before connecting (issue 12 schema)', async () => {
    // Port 1 refuses connections: a connection attempt would report that instead.
    const url = 'postgres://nobody:secret@127.0.0.1:1/none';
    for (const schema of [
      'Integration',
      'x; DROP TABLE outbox_event',
      'pg_temp',
      'a'.repeat(64),
      '',
    ]) {
      const run = await runCliProcess(['migrate', '--database-url', url, '--schema', schema]);
      expect(run.code).toBe(2);
      expect(run.stdout).toBe('');
      expect(run.stderr).toContain('Invalid schema name');
      expect(run.stderr).not.toContain('connect');
    }
    const sql = await runCliProcess(['sql', '--schema', 'Integration']);
    expect(sql.code).toBe(2);
    expect(sql.stdout).toBe('');
  });

  it('the Knex migration source applied by a real Knex gives the same tables, and rolls back (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    for (const schema of ['public', 'integration']) {
      const knex = knexFactory({ client: 'pg', connection: db.url, pool: { min: 0, max: 1 } });
      const config = {
        migrationSource: integrationMigrationSource({ schema }),
        tableName: 'nestjs_integration_knex_migrations',
      };
      try {
        const [, applied] = (await knex.migrate.latest(config)) as [number, string[]];
        expect(applied).toEqual([
          '0001_integration_tables',
          '0002_per_consumer_delivery',
          '0003_per_consumer_only',
          '0004_admin_audit_and_stats',
          '0005_tenant_columns',
          '0006_tenant_lane',
        ]);
        const created = await readSchemaSnapshot(db.url, { schema, tables: MODULE_TABLES });
        expect(compareSnapshots(knexMigrated, created)).toEqual([]);
        const [, again] = (await knex.migrate.latest(config)) as [number, string[]];
        expect(again).toEqual([]);
        await knex.migrate.rollback(config, true);
        expect(await readSchemaSnapshot(db.url, { schema, tables: MODULE_TABLES })).toEqual({});
      } finally {
        await knex.destroy();
      }
    }
  });

  it('the prisma command prints the Prisma fragment shipped with the package (issue 12 schema)', async () => {
    const run = await runCliProcess(['prisma']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      readFileSync(
        path.resolve(__dirname, '../../src/integration/database/prisma/nestjs-integration.prisma'),
        'utf8',
      ),
    );
  });
});
