import type { Knex } from 'knex';
import { integrationKnexMigration } from 'nestjs-integration';

/**
 * The per-consumer model becomes the only one: the per-event state of outbox_event moves into
 * deliveries and its columns are dropped. The SQL is the module's own migration
 * (src/integration/database/migrations/0003_*.sql), the same file the `nestjs-integration` CLI and
 * the Knex migration source apply.
 */
const migration = integrationKnexMigration('0003_per_consumer_only');

export async function up(knex: Knex): Promise<void> {
  await migration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await migration.down(knex);
}
