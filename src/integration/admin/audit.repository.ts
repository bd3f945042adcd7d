import type { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { AdminActionKind, AdminAuditRecord, Page } from './admin.types';
import { encodeCursor, type CheckedPage } from './admin-filter.validation';
import { toPage } from './admin-page';
import { SqlParams, tenantConditions, where } from './admin-sql-filter';

/** What an audit row records, as written. */
export interface AuditEntry {
  readonly action: AdminActionKind;
  readonly actor: string;
  readonly reason: string | null;
  readonly target: Readonly<Record<string, unknown>>;
  readonly affected: number;
  readonly dryRun: boolean;
  readonly complete: boolean;
  /** The tenant the action was limited to; `null`: none. */
  readonly tenantId: string | null;
}

interface AuditRow {
  id: string;
  action: AdminActionKind;
  actor: string;
  reason: string | null;
  target: string;
  affected: number;
  dry_run: boolean;
  complete: boolean;
  tenant_id: string | null;
  created_at: number;
}

/**
 * The audit table (`integration_audit`): one row per admin action, written before a bulk
 * action starts (then counted up by each batch in the batch's own statement, see
 * `AdminActionRepository`) or with a single action's change in one statement.
 */
export class AuditRepository {
  private readonly statements: { insert: string; finish: string; list: string };
  private readonly columns: string;

  constructor(tables: IntegrationTables) {
    // Ordered by a.id, the bigint: `id` alone would name the text column of the output.
    const columns = `a.id::text AS id, a.action, a.actor, a.reason, a.target::text AS target,
        a.affected, a.dry_run, a.complete, a.tenant_id,
        (extract(epoch from a.created_at) * 1000)::float8 AS created_at`;
    this.columns = columns;
    this.statements = {
      insert: `INSERT INTO ${tables.audit} (action, actor, reason, target, affected, dry_run, complete, tenant_id)
        VALUES ($1::text, $2::text, $3::text, $4::jsonb, $5::int, $6::boolean, $7::boolean, $8::text)
        RETURNING id::text AS id`,
      finish: `UPDATE ${tables.audit} SET complete = $2::boolean WHERE id = $1::bigint`,
      list: `FROM ${tables.audit} a`,
    };
  }

  /** Writes one audit row; returns its id. */
  async insert(sql: SqlExecutor, entry: AuditEntry): Promise<string> {
    const { rows } = await sql.query<{ id: string }>(this.statements.insert, [
      entry.action,
      entry.actor,
      entry.reason,
      JSON.stringify(entry.target),
      entry.affected,
      entry.dryRun,
      entry.complete,
      entry.tenantId,
    ]);
    return rows[0]!.id;
  }

  /** Records whether a bulk action left rows matching (`complete: false`) when it ended. */
  async finish(sql: SqlExecutor, id: string, complete: boolean): Promise<void> {
    await sql.query(this.statements.finish, [id, complete]);
  }

  /**
   * One page of audit rows, newest first (keyset on the id): of one tenant (`null`: actions
   * without a tenant) or, `undefined`, of all.
   */
  async list(
    sql: SqlExecutor,
    page: CheckedPage,
    tenantId?: string | null,
  ): Promise<Page<AdminAuditRecord>> {
    const params = new SqlParams();
    const conditions = [
      ...(page.after ? [`a.id < ${params.add(page.after[0], 'bigint')}`] : []),
      ...tenantConditions('a.tenant_id', tenantId, params),
    ];
    const { rows } = await sql.query<AuditRow>(
      `SELECT ${this.columns} ${this.statements.list} ${where(conditions)}
        ORDER BY a.id DESC LIMIT ${params.add(page.limit + 1, 'int')}`,
      params.values,
    );
    return toPage(
      rows,
      page.limit,
      (r) => ({
        id: r.id,
        action: r.action,
        actor: r.actor,
        reason: r.reason,
        target: JSON.parse(r.target) as Record<string, unknown>,
        affected: r.affected,
        dryRun: r.dry_run,
        complete: r.complete,
        tenantId: r.tenant_id,
        createdAt: new Date(r.created_at),
      }),
      (r) => encodeCursor('audit', [r.id]),
    );
  }
}
