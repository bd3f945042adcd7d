import type { Knex } from 'knex';
import { integrationKnexMigration } from 'nestjs-integration';

/**
 * The admin audit table and the per-minute delivery counts per consumer. The SQL is the
 * module's own migration (src/integration/database/migrations/0004_*.sql), the same file the
 * `nestjs-integration` CLI and the Knex migration source apply.
 */
const migration = integrationKnexMigration('0004_admin_audit_and_stats');

export async function up(knex: Knex): Promise<void> {
  await migration.up(knex);
}

export async function down(knex: Knex): Promise<void> {
  await migration.down(knex);
}
