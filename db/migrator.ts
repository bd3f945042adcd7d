import knexFactory, { type Knex } from 'knex';
import { knexConfig } from './knexfile';

/** Applies every pending migration; returns the names applied. */
export async function migrateLatest(connectionString: string): Promise<string[]> {
  return withKnex(connectionString, async (knex) => {
    const [, applied] = (await knex.migrate.latest()) as [number, string[]];
    return applied;
  });
}

/** Rolls back the last batch, or every migration with `all`; returns the names rolled back. */
export async function migrateRollback(connectionString: string, all = false): Promise<string[]> {
  return withKnex(connectionString, async (knex) => {
    const [, rolledBack] = (await knex.migrate.rollback(undefined, all)) as [number, string[]];
    return rolledBack;
  });
}

async function withKnex<T>(connectionString: string, fn: (knex: Knex) => Promise<T>): Promise<T> {
  const knex = knexFactory(knexConfig(connectionString));
  try {
    return await fn(knex);
  } finally {
    await knex.destroy();
  }
}
