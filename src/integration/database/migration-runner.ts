import { InvalidMigrationClientError } from '../errors/invalid-migration-client.error';
import { IntegrationMigrationFailedError } from '../errors/integration-migration-failed.error';
import { UnknownIntegrationMigrationError } from '../errors/unknown-integration-migration.error';
import {
  listIntegrationMigrations,
  renderIntegrationMigration,
  type IntegrationMigration,
  type IntegrationMigrationOptions,
} from './integration-migrations';
import { quoteSchemaName, validateSchemaName } from './schema-name';
import { schemaLockKeys } from './schema-lock-keys';

/** Bookkeeping table of the runner, in the target schema: one row per applied migration. */
export const MIGRATIONS_TABLE = 'nestjs_integration_migrations';

/** First key of the runner's transaction-level advisory lock (`pg_advisory_xact_lock(int, int)`). */
export const MIGRATION_LOCK_CLASS = 0x4e494d47; // 'NIMG'

/**
 * A single PostgreSQL connection: a `pg` `Client`, or a `PoolClient` checked out of a pool
 * (never the `Pool` itself, whose queries may each go to another connection). It must not be
 * inside a transaction: the runner opens and commits its own.
 */
export interface MigrationClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

/** Options of {@link migrateIntegrationTables}. */
export interface MigrateIntegrationTablesOptions extends IntegrationMigrationOptions {
  /**
   * The last migration to apply (its id, e.g. `0002_per_consumer_delivery`): later ones stay
   * pending. For staged upgrades and upgrade tests. An id this version does not ship throws
   * `UnknownIntegrationMigrationError` before any statement is sent.
   * @default every migration
   */
  readonly to?: string;
}

/** What {@link migrateIntegrationTables} did. */
export interface MigrateResult {
  readonly schema: string;
  /** Migrations applied by this run, in order (`0001_integration_tables`, …). */
  readonly applied: readonly string[];
  /** Migrations that were already applied before this run. */
  readonly alreadyApplied: readonly string[];
}

/** One migration as {@link integrationMigrationStatus} sees it. */
export interface MigrationStatusEntry {
  readonly id: string;
  readonly state: 'applied' | 'pending';
  /** When it was applied (for `applied`). */
  readonly appliedAt?: Date;
}

/** What is applied in a schema, and what is not yet. */
export interface MigrationStatus {
  readonly schema: string;
  readonly migrations: readonly MigrationStatusEntry[];
  /** Versions recorded as applied that this version of the package does not know (a newer one applied them). */
  readonly unknown: readonly string[];
}

/**
 * The two keys of the advisory lock the runner takes for `schema`: runs on different schemas
 * do not wait for each other.
 */
export function migrationLockKeys(schema: string): readonly [number, number] {
  return schemaLockKeys(MIGRATION_LOCK_CLASS, schema);
}

/**
 * Refuses a connection pool: its queries may each run on another connection, so the runner's
 * BEGIN, advisory lock and statements would not share one transaction. (A pg `Pool` counts its
 * connections; a `Client` or a checked-out `PoolClient` does not.)
 */
function assertOneConnection(client: MigrationClientLike): void {
  const counts = client as { totalCount?: unknown; idleCount?: unknown };
  if (typeof counts.totalCount === 'number' && typeof counts.idleCount === 'number') {
    throw new InvalidMigrationClientError('a pg Pool');
  }
}

/** The migrations up to and including `to` (all of them without it). */
function migrationsUpTo(
  migrations: readonly IntegrationMigration[],
  to: string | undefined,
): readonly IntegrationMigration[] {
  if (to === undefined) return migrations;
  const index = migrations.findIndex((m) => m.id === to);
  if (index < 0) {
    throw new UnknownIntegrationMigrationError(
      to,
      migrations.map((m) => m.id),
    );
  }
  return migrations.slice(0, index + 1);
}

/**
 * Applies the module's migrations that `schema` lacks, in one transaction under a
 * transaction-level advisory lock: a second runner started meanwhile waits, then finds nothing
 * to do. Creates the schema when missing, and records each migration in
 * {@link MIGRATIONS_TABLE}. Idempotent. With `to`, stops after that migration. A failure rolls
 * everything back and throws {@link IntegrationMigrationFailedError}; an invalid schema name
 * throws `InvalidSchemaNameError`, a pool `InvalidMigrationClientError`, and an unknown `to`
 * `UnknownIntegrationMigrationError`, before any statement is sent.
 */
export async function migrateIntegrationTables(
  client: MigrationClientLike,
  options: MigrateIntegrationTablesOptions = {},
): Promise<MigrateResult> {
  const schema = validateSchemaName(options.schema);
  assertOneConnection(client);
  const quoted = quoteSchemaName(schema);
  const migrations = migrationsUpTo(listIntegrationMigrations(), options.to);
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, $2)', [...migrationLockKeys(schema)]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when the schema exists.
    const { rows: found } = await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [
      schema,
    ]);
    if (found.length === 0) await client.query(`CREATE SCHEMA ${quoted}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted}.${MIGRATIONS_TABLE} (
         version    text        PRIMARY KEY,
         name       text        NOT NULL,
         checksum   text        NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = new Set(
      (
        (await client.query(`SELECT version FROM ${quoted}.${MIGRATIONS_TABLE}`)).rows as {
          version: string;
        }[]
      ).map((row) => row.version),
    );
    const applied: string[] = [];
    const alreadyApplied: string[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) {
        alreadyApplied.push(migration.id);
        continue;
      }
      try {
        await client.query(renderIntegrationMigration(migration, 'up', { schema }));
      } catch (error) {
        throw new IntegrationMigrationFailedError(
          schema,
          migration.id,
          (error as { code?: string }).code,
          error,
        );
      }
      await client.query(
        `INSERT INTO ${quoted}.${MIGRATIONS_TABLE} (version, name, checksum) VALUES ($1, $2, $3)`,
        [migration.version, migration.name, migration.checksum],
      );
      applied.push(migration.id);
    }
    await client.query('COMMIT');
    return { schema, applied, alreadyApplied };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Which of the module's migrations `schema` has and which are pending, read from
 * {@link MIGRATIONS_TABLE}. Reads only: a schema the runner never touched reports every
 * migration pending.
 */
export async function integrationMigrationStatus(
  client: MigrationClientLike,
  options: IntegrationMigrationOptions = {},
): Promise<MigrationStatus> {
  const schema = validateSchemaName(options.schema);
  const table = `${quoteSchemaName(schema)}.${MIGRATIONS_TABLE}`;
  const { rows: present } = (await client.query('SELECT to_regclass($1) IS NOT NULL AS present', [
    table,
  ])) as { rows: { present: boolean }[] };
  const recorded = new Map<string, Date>();
  if (present[0]?.present) {
    const { rows } = (await client.query(
      `SELECT version, applied_at FROM ${table} ORDER BY version`,
    )) as { rows: { version: string; applied_at: Date }[] };
    for (const row of rows) recorded.set(row.version, row.applied_at);
  }
  const migrations = listIntegrationMigrations();
  const known = new Set(migrations.map((m) => m.version));
  return {
    schema,
    migrations: migrations.map((m) => {
      const appliedAt = recorded.get(m.version);
      return appliedAt ? { id: m.id, state: 'applied', appliedAt } : { id: m.id, state: 'pending' };
    }),
    unknown: [...recorded.keys()].filter((version) => !known.has(version)),
  };
}
