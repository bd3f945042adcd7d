import { UnknownIntegrationMigrationError } from '../errors/unknown-integration-migration.error';
import {
  listIntegrationMigrations,
  renderIntegrationMigration,
  type IntegrationMigrationOptions,
} from './integration-migrations';
import { validateSchemaName } from './schema-name';

/** The part of a Knex instance or transaction a migration uses. */
export interface KnexRawLike {
  raw(sql: string): PromiseLike<unknown>;
}

/** One of the module's migrations as Knex runs it. */
export interface IntegrationKnexMigration {
  up(knex: KnexRawLike): Promise<void>;
  /** Drops what `up` created (the module's data with it). A created schema is left in place. */
  down(knex: KnexRawLike): Promise<void>;
}

/** A Knex migration source (`Knex.MigrationSource<string>`) over the module's SQL migrations. */
export interface IntegrationKnexMigrationSource {
  getMigrations(loadExtensions?: readonly string[]): Promise<string[]>;
  getMigrationName(migration: string): string;
  getMigration(migration: string): Promise<IntegrationKnexMigration>;
}

/**
 * The module's migration `id` (e.g. `0001_integration_tables`) as a Knex migration, for an app
 * whose migrations directory holds one file per module migration:
 * `export const { up, down } = integrationKnexMigration('0001_integration_tables')`.
 * The first migration creates a schema other than `public` when it is missing.
 */
export function integrationKnexMigration(
  id: string,
  options: IntegrationMigrationOptions = {},
): IntegrationKnexMigration {
  const schema = validateSchemaName(options.schema);
  const migrations = listIntegrationMigrations();
  const index = migrations.findIndex((m) => m.id === id);
  if (index < 0) {
    throw new UnknownIntegrationMigrationError(
      id,
      migrations.map((m) => m.id),
    );
  }
  const migration = migrations[index]!;
  return {
    up: async (knex) => {
      await knex.raw(
        renderIntegrationMigration(migration, 'up', { schema, createSchema: index === 0 }),
      );
    },
    down: async (knex) => {
      await knex.raw(renderIntegrationMigration(migration, 'down', { schema }));
    },
  };
}

/**
 * A Knex migration source for the module's tables. Run it with its own bookkeeping table so
 * it does not mix with the app's migrations directory:
 * `knex.migrate.latest({ migrationSource: integrationMigrationSource(), tableName: 'nestjs_integration_knex_migrations' })`.
 * Validates the schema name (`InvalidSchemaNameError`) when called, before Knex connects.
 */
export function integrationMigrationSource(
  options: IntegrationMigrationOptions = {},
): IntegrationKnexMigrationSource {
  const schema = validateSchemaName(options.schema);
  return {
    getMigrations: async () => listIntegrationMigrations().map((m) => m.id),
    getMigrationName: (id) => id,
    getMigration: async (id) => integrationKnexMigration(id, { schema }),
  };
}
