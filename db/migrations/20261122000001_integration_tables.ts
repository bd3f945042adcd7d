import type { Knex } from 'knex';
import { integrationKnexMigration } from 'nestjs-integration';

/**
 * Tables of the integration module: outbox, inbox and cross-module links (DESIGN.md §3).
 * The SQL is the module's own migration (src/integration/database/migrations/0001_*.sql), the
 * same file the `nestjs-integration` CLI and the Knex migration source apply: one source of truth.
 */
const migration = integrationKnexMigration('0001_integration_tables');

export async function up(knex: Knex): Promise<void> {
  await migration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await migration.down(knex);
}
