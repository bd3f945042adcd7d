import type { IntegrationDatabaseAdapter, SqlExecutor, SqlResult } from './sql-executor';

/** The session setting the row-level-security policies compare `tenant_id` with. */
export const TENANT_SETTING = 'nestjs_integration.tenant_id';

/** Sets {@link TENANT_SETTING} for the rest of the current transaction only. */
const SET_TENANT = `SELECT set_config('${TENANT_SETTING}', $1::text, true)`;

/**
 * The one place where the module tells PostgreSQL which tenant its statements run for, when the
 * `rowLevelSecurity` option is on (see `enableRowLevelSecurity`). Off, or with no tenant known,
 * every method is a no-op that returns what it was given: no statement, no transaction, no cost.
 *
 * - In a transaction the module shares with the caller (a publish), {@link enter} sends
 *   `set_config('nestjs_integration.tenant_id', tenant, true)` first: one round trip, and the
 *   setting lasts until that transaction ends.
 * - For statements the module runs on its own (admin, inbox and link queries without a `tx`),
 *   {@link executor} runs each statement in a short transaction of its own that starts with the
 *   same `set_config` (`set_config(…, true)` outside a transaction would end with the statement).
 *
 * With no tenant the setting is left as it is: a session that set it itself keeps it, and a
 * session without it sees no row of a table under the policies.
 */
export class TenantSession {
  constructor(
    private readonly database: Pick<IntegrationDatabaseAdapter, 'root' | 'transaction'>,
    /** The `rowLevelSecurity` option. */
    readonly enabled: boolean,
  ) {}

  /** In the transaction of `sql`: sets the tenant for its remaining statements (when on). */
  async enter(sql: SqlExecutor, tenant: string | null | undefined): Promise<void> {
    if (!this.enabled || typeof tenant !== 'string') return;
    await sql.query(SET_TENANT, [tenant]);
  }

  /**
   * The executor for the module's own statements for `tenant`: the root client when off or
   * without a tenant; else one that runs each statement in its own transaction after
   * `set_config`.
   */
  executor(tenant: string | null | undefined): SqlExecutor {
    if (!this.enabled || typeof tenant !== 'string') return this.database.root;
    return {
      query: <TRow>(text: string, params?: readonly unknown[]): Promise<SqlResult<TRow>> =>
        this.database.transaction(async (_tx, sql) => {
          await sql.query(SET_TENANT, [tenant]);
          return sql.query<TRow>(text, params);
        }),
    };
  }
}
