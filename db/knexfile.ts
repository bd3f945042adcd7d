import type { Knex } from 'knex';
import { migrations } from './migrations';

/** Knex migration source over the explicit list in `db/migrations/index.ts`. */
export const migrationSource: Knex.MigrationSource<readonly [string, Knex.Migration]> = {
  getMigrations: async () => [...migrations],
  getMigrationName: ([name]) => name,
  getMigration: async ([, migration]) => migration,
};

/** Knex configuration for a connection URL (defaults to `DATABASE_URL`). */
export function knexConfig(connectionString = process.env.DATABASE_URL): Knex.Config {
  if (!connectionString) {
    throw new Error('DATABASE_URL is not set: the knexfile needs a PostgreSQL connection URL');
  }
  return {
    client: 'pg',
    connection: { connectionString },
    pool: { min: 0, max: 2 },
    migrations: { migrationSource, tableName: 'knex_migrations' },
  };
}

export default knexConfig;
