import type { Knex } from 'knex';
import { integrationKnexMigration } from 'nestjs-integration';

/**
 * The tenant columns of deliveries, inbox marks and audit rows. The SQL is the
 * module's own migration (src/integration/database/migrations/0005_*.sql), the same file the
 * `nestjs-integration` CLI and the Knex migration source apply.
 */
const migration = integrationKnexMigration('0005_tenant_columns');

export async function up(knex: Knex): Promise<void> {
  await migration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await migration.down(knex);
}
