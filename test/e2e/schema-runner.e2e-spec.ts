import { Client, Pool } from 'pg';
import {
  integrationKnexMigration,
  integrationMigrationStatus,
  integrationPrismaModels,
  integrationTablesSql,
  IntegrationMigrationFailedError,
  InvalidMigrationClientError,
  migrateIntegrationTables,
  MIGRATIONS_TABLE,
  UnknownIntegrationMigrationError,
} from '../../src/integration';
import { CliExitCode } from '../../src/integration/cli/cli';
import { findMissingSchema } from '../../src/integration/database/integration-schema.verifier';
import { pgAdapter } from '../../src/integration/database/pg.adapter';
import {
  compareSchema,
  MODULE_TABLES,
  readLiveColumns,
  readPrismaModels,
} from '../support/schema-drift';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { runCliInProcess } from '../support/cli-process';

const cli = runCliInProcess;

describe('migration runner, CLI and Prisma fragment in process (issue 12)', () => {
  const dropLater: TestDatabase[] = [];
  const clients: Client[] = [];

  async function emptyDatabase(): Promise<TestDatabase> {
    const db = await createTestDatabase({ migrated: false });
    dropLater.push(db);
    return db;
  }
  async function connect(url: string): Promise<Client> {
    const client = new Client({ connectionString: url });
    await client.connect();
    clients.push(client);
    return client;
  }
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.end()));
    await Promise.all(dropLater.map((db) => db.drop()));
  });

  it('two runners started together on one database: one applies, the other finds nothing to do (issue 12 acceptance #4)', async () => {
    const db = await emptyDatabase();
    const [a, b] = [await connect(db.url), await connect(db.url)];
    const results = await Promise.all([
      migrateIntegrationTables(a, { schema: 'integration' }),
      migrateIntegrationTables(b, { schema: 'integration' }),
    ]);
    expect(results.map((r) => r.applied.length).sort()).toEqual([0, 6]);
    expect(results.map((r) => r.alreadyApplied.length).sort()).toEqual([0, 6]);
    const status = await integrationMigrationStatus(a, { schema: 'integration' });
    expect(status).toEqual({
      schema: 'integration',
      migrations: [
        { id: '0001_integration_tables', state: 'applied', appliedAt: expect.any(Date) },
        { id: '0002_per_consumer_delivery', state: 'applied', appliedAt: expect.any(Date) },
        { id: '0003_per_consumer_only', state: 'applied', appliedAt: expect.any(Date) },
        { id: '0004_admin_audit_and_stats', state: 'applied', appliedAt: expect.any(Date) },
        { id: '0005_tenant_columns', state: 'applied', appliedAt: expect.any(Date) },
        { id: '0006_tenant_lane', state: 'applied', appliedAt: expect.any(Date) },
      ],
      unknown: [],
    });
  });

  it('to: applies the migrations up to that id and leaves the later ones pending (issue 13 upgrade)', async () => {
    const db = await emptyDatabase();
    const client = await connect(db.url);
    expect(await migrateIntegrationTables(client, { to: '0001_integration_tables' })).toEqual({
      schema: 'public',
      applied: ['0001_integration_tables'],
      alreadyApplied: [],
    });
    expect(
      (await integrationMigrationStatus(client)).migrations.map((m) => [m.id, m.state]),
    ).toEqual([
      ['0001_integration_tables', 'applied'],
      ['0002_per_consumer_delivery', 'pending'],
      ['0003_per_consumer_only', 'pending'],
      ['0004_admin_audit_and_stats', 'pending'],
      ['0005_tenant_columns', 'pending'],
      ['0006_tenant_lane', 'pending'],
    ]);
    const { rows } = await client.query(
      "SELECT to_regclass('public.integration_delivery') IS NULL AS absent",
    );
    expect(rows).toEqual([{ absent: true }]);
    expect(await migrateIntegrationTables(client, { to: '0002_per_consumer_delivery' })).toEqual({
      schema: 'public',
      applied: ['0002_per_consumer_delivery'],
      alreadyApplied: ['0001_integration_tables'],
    });
    expect(await migrateIntegrationTables(client)).toEqual({
      schema: 'public',
      applied: [
        '0003_per_consumer_only',
        '0004_admin_audit_and_stats',
        '0005_tenant_columns',
        '0006_tenant_lane',
      ],
      alreadyApplied: ['0001_integration_tables', '0002_per_consumer_delivery'],
    });
  });

  it('the schema check names what later migrations add on a database migrated to 0001 only (issue 13 upgrade)', async () => {
    const db = await emptyDatabase();
    const client = await connect(db.url);
    await migrateIntegrationTables(client, { to: '0001_integration_tables' });
    const pool = new Pool({ connectionString: db.url, max: 1 });
    try {
      expect(await findMissingSchema(pgAdapter(pool).root)).toEqual({
        tables: [
          'integration_consumer',
          'integration_consumer_host',
          'integration_delivery',
          'integration_sequencer',
          'integration_audit',
          'integration_consumer_stats',
        ],
        columns: ['outbox_event.tx_id', 'inbox_event.tenant_id'],
      });
      await migrateIntegrationTables(client);
      expect(await findMissingSchema(pgAdapter(pool).root)).toEqual({ tables: [], columns: [] });
    } finally {
      await pool.end();
    }
  });

  it('to: an id the package does not ship is refused before any statement (issue 13 upgrade)', async () => {
    const sent: string[] = [];
    const client = {
      query: (text: string) => {
        sent.push(text);
        return Promise.resolve({ rows: [] });
      },
    };
    const attempt = migrateIntegrationTables(client, { to: '0002_nope' });
    await expect(attempt).rejects.toBeInstanceOf(UnknownIntegrationMigrationError);
    await expect(attempt).rejects.toThrow(
      /ships 0001_integration_tables, 0002_per_consumer_delivery, 0003_per_consumer_only, 0004_admin_audit_and_stats, 0005_tenant_columns, 0006_tenant_lane\./,
    );
    expect(sent).toEqual([]);
  });

  it('refuses a pg Pool before sending anything: its queries would not share one transaction (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    const pool = new Pool({ connectionString: db.url, max: 2 });
    try {
      await expect(migrateIntegrationTables(pool, { schema: 'pooled' })).rejects.toThrow(
        InvalidMigrationClientError,
      );
      expect(pool.totalCount).toBe(0); // not one connection opened
    } finally {
      await pool.end();
    }
    const client = await connect(db.url);
    const { rows } = await client.query("select 1 from pg_namespace where nspname = 'pooled'");
    expect(rows).toEqual([]);
  });

  it('a failing migration rolls the whole run back and says why (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    const client = await connect(db.url);
    await client.query('CREATE SCHEMA clash; CREATE TABLE clash.outbox_event (id int)');
    const error = await migrateIntegrationTables(client, { schema: 'clash' }).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(IntegrationMigrationFailedError);
    expect(error).toMatchObject({
      schema: 'clash',
      migration: '0001_integration_tables',
      code: '42P07',
    });
    expect((error as Error).message).toMatch(/Nothing was applied.*already exist/s);
    // One transaction: not even the bookkeeping table or the inbox table stayed.
    const { rows } = await client.query(
      `SELECT to_regclass('clash.${MIGRATIONS_TABLE}') AS bookkeeping, to_regclass('clash.inbox_event') AS inbox`,
    );
    expect(rows).toEqual([{ bookkeeping: null, inbox: null }]);
    // The connection is usable again (no transaction left open).
    expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });

  it('a privilege error names the fix, and other failures say to fix and rerun (issue 12 schema)', () => {
    expect(
      new IntegrationMigrationFailedError('s', '0001_x', '42501', new Error('denied')).message,
    ).toMatch(/lacks a privilege/);
    expect(new IntegrationMigrationFailedError('s', '0001_x', undefined, 'boom').message).toMatch(
      /: boom\. .*Fix the cause/,
    );
  });

  it('status lists versions a newer package applied (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    const client = await connect(db.url);
    await migrateIntegrationTables(client);
    await client.query(
      `INSERT INTO ${MIGRATIONS_TABLE} (version, name, checksum) VALUES ('9999', 'future', 'x')`,
    );
    const run = await cli(['status', '--database-url', db.url]);
    expect(run.code).toBe(CliExitCode.Ok);
    expect(run.stdout).toMatch(
      /\n {2}9999 {2}applied, unknown to this version of nestjs-integration\n$/,
    );
  });

  it('the CLI migrates and reports in process, reading DATABASE_URL (issue 12 schema)', async () => {
    const db = await emptyDatabase();
    expect(await cli(['migrate'], { DATABASE_URL: db.url })).toEqual({
      code: CliExitCode.Ok,
      stdout:
        'Applied 0001_integration_tables to schema "public"\n' +
        'Applied 0002_per_consumer_delivery to schema "public"\n' +
        'Applied 0003_per_consumer_only to schema "public"\n' +
        'Applied 0004_admin_audit_and_stats to schema "public"\n' +
        'Applied 0005_tenant_columns to schema "public"\n' +
        'Applied 0006_tenant_lane to schema "public"\n',
      stderr: '',
    });
    expect((await cli(['migrate', '--database-url', db.url])).stdout).toMatch(/^Nothing to apply/);
    expect((await cli(['status'], { DATABASE_URL: db.url })).stdout).toMatch(
      /6 applied, 0 pending/,
    );
  });

  it.each([
    [[], /a command is required/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['sql', 'extra'], /unexpected argument "extra"/],
    [['sql', '--database-url', 'postgres://x/y'], /sql needs no database/],
    [['prisma', '--schema', 'integration'], /prisma takes no options/],
    [['migrate'], /no database: pass --database-url/],
    [['migrate', '--database-url', 'not a url'], /is not a URL/],
    [['status', '--database-url', 'mysql://h/db'], /must start with postgres:\/\//],
    [['migrate', '--verbose'], /Unknown option '--verbose'/],
    [
      ['migrate', '--schema', 'Bad', '--database-url', 'postgres://h/db'],
      /Invalid schema name "Bad"/,
    ],
  ])('refuses the command line %j with exit code 2 (issue 12 schema)', async (argv, message) => {
    const run = await cli(argv as string[]);
    expect(run.code).toBe(CliExitCode.Usage);
    expect(run.stdout).toBe('');
    expect(run.stderr).toMatch(message);
    expect(run.stderr).toMatch(/Run "nestjs-integration --help" for usage\.\n$/);
  });

  it('an unreachable database is exit code 1, its password masked (issue 12 schema)', async () => {
    const run = await cli(['status', '--database-url', 'postgres://u:s3cret@127.0.0.1:1/db']);
    expect(run.code).toBe(CliExitCode.Failed);
    expect(run.stderr).toMatch(
      /^nestjs-integration: cannot connect to postgres:\/\/u:\*\*\*@127\.0\.0\.1:1\/db: /,
    );
    expect(run.stderr).not.toContain('s3cret');
  });

  it('--help and help print the usage (issue 12 schema)', async () => {
    for (const argv of [['--help'], ['-h'], ['help'], ['migrate', '--help']]) {
      const run = await cli(argv);
      expect(run.code).toBe(CliExitCode.Ok);
      expect(run.stdout).toMatch(/^Usage: nestjs-integration <command>/);
      expect(run.stderr).toBe('');
    }
  });

  it('sql and prisma print in process what the library renders (issue 12 schema)', async () => {
    const sql = await cli(['sql', '--schema', 'integration']);
    expect(sql.code).toBe(CliExitCode.Ok);
    expect(sql.stdout).toBe(integrationTablesSql({ schema: 'integration' }));
    expect(sql.stdout).toMatch(
      /^-- nestjs-integration: the module's tables in schema "integration" \(6 migrations\)\.\n\nCREATE SCHEMA IF NOT EXISTS "integration";\n\n-- migration 0001_integration_tables\n/,
    );
    expect(sql.stdout).toContain('CREATE TABLE "integration".outbox_event (');
    expect(sql.stdout).not.toContain('${');
    const plain = await cli(['sql']);
    expect(plain.stdout).not.toContain('CREATE SCHEMA');
    expect(plain.stdout).toContain('CREATE TABLE "public".outbox_event (');
    expect((await cli(['prisma'])).stdout).toBe(integrationPrismaModels());
  });

  it('integrationKnexMigration refuses an id the package does not ship (issue 12 schema)', () => {
    expect(() => integrationKnexMigration('0002_nope')).toThrow(UnknownIntegrationMigrationError);
    expect(() => integrationKnexMigration('0002_nope')).toThrow(
      /ships 0001_integration_tables, 0002_per_consumer_delivery, 0003_per_consumer_only, 0004_admin_audit_and_stats, 0005_tenant_columns, 0006_tenant_lane\./,
    );
  });

  it('the Prisma fragment has exactly the models of prisma/schema.prisma for the module tables (issue 12 schema)', async () => {
    const fragment = readPrismaModels(
      `datasource db {\n  provider = "postgresql"\n}\n${integrationPrismaModels()}`,
    );
    const repository = readPrismaModels().filter((m) =>
      (MODULE_TABLES as readonly string[]).includes(m.dbName ?? m.name),
    );
    expect(fragment.map((m) => m.name).sort()).toEqual([
      'InboxEvent',
      'IntegrationAudit',
      'IntegrationConsumer',
      'IntegrationConsumerHost',
      'IntegrationConsumerStats',
      'IntegrationDelivery',
      'IntegrationLink',
      'IntegrationSequencer',
      'OutboxEvent',
    ]);
    expect(fragment).toEqual(repository);
    // And the fragment matches the migrated tables column by column.
    const db = await createTestDatabase();
    dropLater.push(db);
    const columns = (await readLiveColumns(db.url)).filter((c) =>
      (MODULE_TABLES as readonly string[]).includes(c.table),
    );
    expect(compareSchema(fragment, columns)).toEqual([]);
  });

  it('the fragment comparison notices a drifted field (issue 12 schema)', () => {
    const drifted = readPrismaModels(
      `datasource db {\n  provider = "postgresql"\n}\n${integrationPrismaModels().replace(
        'payloadHash  String?',
        'payloadHash  String ',
      )}`,
    );
    const repository = readPrismaModels().filter((m) => m.name === 'InboxEvent');
    expect(drifted.find((m) => m.name === 'InboxEvent')).not.toEqual(repository[0]);
  });
});
