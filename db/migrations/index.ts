import type { Knex } from 'knex';
import * as integrationTables from './20261122000001_integration_tables';
import * as vaultTables from './20261122000002_vault_tables';
import * as vaultIdempotencyScope from './20261130000001_vault_idempotency_scope';
import * as perConsumerDelivery from './20261201000001_per_consumer_delivery';
import * as perConsumerOnly from './20261201000002_per_consumer_only';
import * as adminAuditAndStats from './20261201000003_admin_audit_and_stats';
import * as tenantColumns from './20261201000004_tenant_columns';
import * as tenantLane from './20261203000001_tenant_lane';

/** Every migration, in order. Add new files here: the list is explicit so the same source works
 * in compiled JavaScript, under Jest and from the CLI, with no runtime TypeScript loader. */
export const migrations: ReadonlyArray<readonly [string, Knex.Migration]> = [
  ['20261122000001_integration_tables', integrationTables],
  ['20261122000002_vault_tables', vaultTables],
  ['20261130000001_vault_idempotency_scope', vaultIdempotencyScope],
  ['20261201000001_per_consumer_delivery', perConsumerDelivery],
  ['20261201000002_per_consumer_only', perConsumerOnly],
  ['20261201000003_admin_audit_and_stats', adminAuditAndStats],
  ['20261201000004_tenant_columns', tenantColumns],
  ['20261203000001_tenant_lane', tenantLane],
];
