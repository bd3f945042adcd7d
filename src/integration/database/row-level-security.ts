import type { MigrationClientLike } from './migration-runner';
import { IntegrationTables } from './integration-tables';
import { validateSchemaName } from './schema-name';
import { TENANT_SETTING } from './tenant-session';

/** Name of the policy {@link enableRowLevelSecurity} creates on each table. */
export const TENANT_POLICY = 'nestjs_integration_tenant';

/** Options of {@link enableRowLevelSecurity} and {@link disableRowLevelSecurity}. */
export interface RowLevelSecurityOptions {
  /** Schema of the module's tables. @default 'public' */
  readonly schema?: string;
  /**
   * `FORCE ROW LEVEL SECURITY`: the policies bind the tables' owner too (only superusers and
   * roles with `BYPASSRLS` pass). `false` lets the owner (e.g. the role that runs migrations and
   * the processor) bypass them. @default true
   */
  readonly force?: boolean;
}

/** The tables holding a tenant's rows (each has a `tenant_id` column). */
function tenantTables(t: IntegrationTables): readonly string[] {
  return [t.outbox, t.delivery, t.inbox, t.link, t.audit];
}

/**
 * The SQL of {@link enableRowLevelSecurity}: for every table holding a tenant's rows, RLS
 * enabled (and forced) and one policy for every command that lets a session see, change,
 * delete and insert only rows whose `tenant_id` equals the setting `nestjs_integration.tenant_id`.
 * A session that did not set it (or set it to '') sees and writes nothing, and rows without a
 * tenant are reachable only by roles that bypass RLS. Idempotent (the policy is replaced).
 */
export function rowLevelSecuritySql(options: RowLevelSecurityOptions = {}): string {
  const tables = new IntegrationTables(validateSchemaName(options.schema));
  const tenant = `current_setting('${TENANT_SETTING}', true)`;
  return tenantTables(tables)
    .map((table) =>
      [
        `ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;`,
        `ALTER TABLE ${table} ${options.force === false ? 'NO FORCE' : 'FORCE'} ROW LEVEL SECURITY;`,
        `DROP POLICY IF EXISTS ${TENANT_POLICY} ON ${table};`,
        `CREATE POLICY ${TENANT_POLICY} ON ${table} USING (tenant_id = ${tenant}) WITH CHECK (tenant_id = ${tenant});`,
      ].join('\n'),
    )
    .join('\n\n');
}

/** The SQL of {@link disableRowLevelSecurity}. Idempotent. */
export function disableRowLevelSecuritySql(
  options: Omit<RowLevelSecurityOptions, 'force'> = {},
): string {
  const tables = new IntegrationTables(validateSchemaName(options.schema));
  return tenantTables(tables)
    .map((table) =>
      [
        `DROP POLICY IF EXISTS ${TENANT_POLICY} ON ${table};`,
        `ALTER TABLE ${table} NO FORCE ROW LEVEL SECURITY;`,
        `ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY;`,
      ].join('\n'),
    )
    .join('\n\n');
}

async function inTransaction(client: MigrationClientLike, sql: string): Promise<void> {
  await client.query('BEGIN');
  try {
    await client.query(sql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Opt-in PostgreSQL row-level security on the module's tables that hold a tenant's rows
 * (`outbox_event`, `integration_delivery`, `inbox_event`, `integration_link`,
 * `integration_audit`), keyed on the session setting `nestjs_integration.tenant_id`, in one
 * transaction on `client` (a `pg` `Client` or checked-out `PoolClient`, by the tables' owner).
 * Run it after the migrations; running it again changes nothing. Then set the module option
 * `rowLevelSecurity: true`, run the app with a role without `BYPASSRLS`, and the processor with
 * one that has it (see docs/tenancy.md). Undo with {@link disableRowLevelSecurity}.
 *
 * ```ts
 * await enableRowLevelSecurity(client, { schema: 'integration' });
 * ```
 * @throws InvalidSchemaNameError before any statement when `schema` is not a plain identifier.
 */
export async function enableRowLevelSecurity(
  client: MigrationClientLike,
  options: RowLevelSecurityOptions = {},
): Promise<void> {
  await inTransaction(client, rowLevelSecuritySql(options));
}

/** Drops the policies of {@link enableRowLevelSecurity} and disables RLS on those tables. */
export async function disableRowLevelSecurity(
  client: MigrationClientLike,
  options: Omit<RowLevelSecurityOptions, 'force'> = {},
): Promise<void> {
  await inTransaction(client, disableRowLevelSecuritySql(options));
}
