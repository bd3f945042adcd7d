import type { Knex } from 'knex';
import { integrationKnexMigration } from 'nestjs-integration';

/**
 * The index of the sequencer's tenant lane. The SQL is the
 * module's own migration (src/integration/database/migrations/0006_*.sql), the same file the
 * `nestjs-integration` CLI and the Knex migration source apply.
 */
const migration = integrationKnexMigration('0006_tenant_lane');

export async function up(knex: Knex): Promise<void> {
  await migration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await migration.down(knex);
}
