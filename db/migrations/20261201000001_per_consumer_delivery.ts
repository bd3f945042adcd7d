import type { Knex } from 'knex';
import { integrationKnexMigration } from 'nestjs-integration';

/**
 * Per-consumer delivery (issue 13): delivery state per (event, consumer), the consumer registry
 * and the sequencer. The SQL is the module's own migration
 * (src/integration/database/migrations/0002_*.sql), the same file the `nestjs-integration` CLI and
 * the Knex migration source apply.
 */
const migration = integrationKnexMigration('0002_per_consumer_delivery');

export async function up(knex: Knex): Promise<void> {
  await migration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await migration.down(knex);
}
