import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { DEFAULT_INTEGRATION_SCHEMA, quoteSchemaName, validateSchemaName } from './schema-name';

/** Where the module's SQL migrations live (shipped beside the compiled code). */
export const INTEGRATION_MIGRATIONS_DIR = path.join(__dirname, 'migrations');

/** The token every migration file uses for the quoted schema of the module's tables. */
export const SCHEMA_PLACEHOLDER = '${schema}';

const MIGRATION_FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

/** One SQL migration of the module's tables, e.g. `0001_integration_tables.sql`. */
export interface IntegrationMigration {
  /** `0001_integration_tables`: the file name without `.sql`. */
  readonly id: string;
  /** `0001`: what the runner records as applied. */
  readonly version: string;
  /** `integration_tables`. */
  readonly name: string;
  /** SHA-256 (hex) of the file as shipped, before the schema is substituted. */
  readonly checksum: string;
}

/** Options shared by every way of creating the module's tables. */
export interface IntegrationMigrationOptions {
  /**
   * Schema of the module's tables, validated as a plain lowercase identifier.
   * @default 'public'
   */
  readonly schema?: string;
}

/** The module's migrations in the order they apply. */
export function listIntegrationMigrations(
  dir = INTEGRATION_MIGRATIONS_DIR,
): readonly IntegrationMigration[] {
  return readdirSync(dir)
    .filter((file) => MIGRATION_FILE.test(file))
    .sort()
    .map((file) => {
      const [, version, name] = MIGRATION_FILE.exec(file)!;
      return {
        id: `${version}_${name}`,
        version: version!,
        name: name!,
        checksum: createHash('sha256')
          .update(readFileSync(path.join(dir, file)))
          .digest('hex'),
      };
    });
}

/**
 * The SQL of one migration (`up`) or of its undo (`down`, used by Knex rollbacks), with the
 * quoted schema substituted. `createSchema` prepends `CREATE SCHEMA IF NOT EXISTS` for a schema
 * other than `public` (whose creation needs no statement, and may not be allowed).
 */
export function renderIntegrationMigration(
  migration: Pick<IntegrationMigration, 'id'>,
  direction: 'up' | 'down',
  options: IntegrationMigrationOptions & { readonly createSchema?: boolean } = {},
  dir = INTEGRATION_MIGRATIONS_DIR,
): string {
  const schema = validateSchemaName(options.schema);
  const file = path.join(dir, `${migration.id}${direction === 'down' ? '.down' : ''}.sql`);
  const sql = readFileSync(file, 'utf8').split(SCHEMA_PLACEHOLDER).join(quoteSchemaName(schema));
  return options.createSchema && schema !== DEFAULT_INTEGRATION_SCHEMA
    ? `CREATE SCHEMA IF NOT EXISTS ${quoteSchemaName(schema)};\n\n${sql}`
    : sql;
}

/**
 * Every migration's SQL in order, the schema substituted and created when it is not `public`:
 * what `nestjs-integration sql` prints, for Prisma Migrate, Flyway or a DBA. Applying it records
 * nothing; keep upgrading the tables the same way (each migration starts with a
 * `-- migration <id>` line, so a later version's additions can be picked out).
 */
export function integrationTablesSql(options: IntegrationMigrationOptions = {}): string {
  const schema = validateSchemaName(options.schema);
  const migrations = listIntegrationMigrations();
  const parts = [
    `-- nestjs-integration: the module's tables in schema "${schema}" (${migrations.length} migration${
      migrations.length === 1 ? '' : 's'
    }).`,
  ];
  if (schema !== DEFAULT_INTEGRATION_SCHEMA) {
    parts.push(`CREATE SCHEMA IF NOT EXISTS ${quoteSchemaName(schema)};`);
  }
  for (const migration of migrations) {
    parts.push(
      `-- migration ${migration.id}\n${renderIntegrationMigration(migration, 'up', { schema }).trim()}`,
    );
  }
  return `${parts.join('\n\n')}\n`;
}
