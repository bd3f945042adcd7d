import type { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { AdminActionKind } from './admin.types';
import type { CheckedDeliveryFilter } from './admin-filter.validation';
import { SqlParams, deliveryConditions, needsEvent, where } from './admin-sql-filter';

/** Rows one statement of a bulk action changes at most (one short transaction each). */
export const ADMIN_BATCH_SIZE = 500;

/** What happens to the deliveries an action takes. */
export type DeliveryChange = 'replay' | 'discard' | 'purge';

/** Who acts, why, and on what: the audit row's fields written with a single action. */
export interface SingleActionAudit {
  readonly actor: string;
  readonly reason: string | null;
  readonly target: Readonly<Record<string, unknown>>;
  /** The tenant the action was limited to; `null`: none. */
  readonly tenantId: string | null;
}

/** The audit table's name of each change. */
export const AUDIT_ACTIONS: Readonly<Record<DeliveryChange, AdminActionKind>> = {
  replay: 'replay',
  discard: 'discard',
  purge: 'purge-dead-letters',
};

/** The statuses each single-delivery change applies to, as SQL. */
const SINGLE_STATUSES: Readonly<Record<'replay' | 'discard', string>> = {
  replay: "d.status = 'dead_letter'",
  discard: "d.status IN ('pending', 'dead_letter')",
};

/**
 * The SET list of a change. `lastError` (a placeholder) replaces the last error when not null:
 * a discard records its reason there, a replay passes null and keeps the error.
 */
function setList(change: 'replay' | 'discard', lastError: string): string {
  const common = `last_error = coalesce(${lastError}, d.last_error), locked_by = NULL,
       locked_until = NULL, updated_at = now()`;
  return change === 'replay'
    ? `status = 'pending', attempt_count = 0, available_at = now(), ${common}`
    : `status = 'skipped', ${common}`;
}

/**
 * The SQL of admin actions on deliveries. A single action changes its rows and writes its
 * audit row in one statement (both or neither). A bulk action runs in batches of at most
 * {@link ADMIN_BATCH_SIZE} rows, one statement (one short transaction) each, taking rows with
 * `FOR UPDATE SKIP LOCKED` (never waiting for a delivery being settled) and adding its count
 * to the action's audit row in that same statement: the audit row always says how many rows
 * were changed, even when a later batch fails.
 */
export class AdminActionRepository {
  private readonly single: Readonly<
    Record<'replay' | 'discard', { delivery: string; event: string }>
  >;

  constructor(private readonly tables: IntegrationTables) {
    const build = (change: 'replay' | 'discard', key: string) =>
      `WITH changed AS (
         UPDATE ${tables.delivery} d SET ${setList(change, '$5::text')}
          WHERE ${key} AND ${SINGLE_STATUSES[change]}
         RETURNING 1
       ), audit AS (
         INSERT INTO ${tables.audit} (action, actor, reason, target, affected, tenant_id)
         SELECT '${AUDIT_ACTIONS[change]}', $2::text, $3::text, $4::jsonb, count(*)::int, $7::text
           FROM changed
         HAVING count(*) > 0 OR $6::boolean
         RETURNING id::text AS id, affected
       )
       SELECT id, affected FROM audit`;
    this.single = {
      replay: {
        delivery: build('replay', 'd.event_id = $1::uuid AND d.consumer_name = $8::text'),
        event: build('replay', 'd.event_id = $1::uuid'),
      },
      discard: {
        delivery: build('discard', 'd.event_id = $1::uuid AND d.consumer_name = $8::text'),
        event: build('discard', 'd.event_id = $1::uuid'),
      },
    };
  }

  /**
   * Changes one consumer's delivery of one event (`consumer` given) or every delivery of the
   * event in the change's statuses, and writes the audit row with it. Returns the audit id and
   * how many changed; `undefined` when nothing changed and `auditEmpty` is false (then no audit
   * row is written either).
   */
  async changeOne(
    sql: SqlExecutor,
    change: 'replay' | 'discard',
    eventId: string,
    consumer: string | undefined,
    audit: SingleActionAudit,
    options: { readonly lastError: string | null; readonly auditEmpty: boolean },
  ): Promise<{ auditId: string; affected: number } | undefined> {
    const statements = this.single[change];
    const params: unknown[] = [
      eventId,
      audit.actor,
      audit.reason,
      JSON.stringify(audit.target),
      options.lastError,
      options.auditEmpty,
      audit.tenantId,
    ];
    const { rows } = await sql.query<{ id: string; affected: number }>(
      consumer === undefined ? statements.event : statements.delivery,
      consumer === undefined ? params : [...params, consumer],
    );
    const row = rows[0];
    return row ? { auditId: row.id, affected: row.affected } : undefined;
  }

  /** How many deliveries `change` would take for `filter`, counting at most `cap`. */
  async countUpTo(
    sql: SqlExecutor,
    change: DeliveryChange,
    filter: CheckedDeliveryFilter,
    cap: number,
  ): Promise<number> {
    const params = new SqlParams();
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM (SELECT 1 ${this.from(change, filter, params)}
         LIMIT ${params.add(cap, 'int')}) x`,
      params.values,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * Applies `change` to at most `batchSize` deliveries matching `filter` (which must select
   * the change's status: dead letters) in one statement, adding the count to audit row
   * `auditId`; returns how many changed.
   */
  async changeBatch(
    sql: SqlExecutor,
    change: DeliveryChange,
    filter: CheckedDeliveryFilter,
    batchSize: number,
    auditId: string,
    lastError: string | null,
  ): Promise<number> {
    const params = new SqlParams();
    const picked = `SELECT d.event_id, d.consumer_name ${this.from(change, filter, params)}
         LIMIT ${params.add(batchSize, 'int')} FOR UPDATE OF d SKIP LOCKED`;
    const key = `d.event_id = p.event_id AND d.consumer_name = p.consumer_name AND d.status = 'dead_letter'`;
    const changed =
      change === 'purge'
        ? `DELETE FROM ${this.tables.delivery} d USING picked p WHERE ${key} RETURNING 1`
        : `UPDATE ${this.tables.delivery} d SET ${setList(change, params.add(lastError, 'text'))}
             FROM picked p WHERE ${key} RETURNING 1`;
    const { rows } = await sql.query<{ n: number }>(
      `WITH picked AS (${picked}), changed AS (${changed}), counted AS (
         UPDATE ${this.tables.audit} SET affected = affected + (SELECT count(*) FROM changed)
          WHERE id = ${params.add(auditId, 'bigint')}
       )
       SELECT (SELECT count(*) FROM changed)::int AS n`,
      params.values,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * `FROM … WHERE …` of the deliveries `change` takes for `filter` (joined to their events if
   * needed). A purge deletes, so it takes only deliveries of events inside the sequencer's
   * horizon: the tenant lane may have fanned an event out before the runs in commit order
   * reach it, and the run that does would create a purged delivery again (another attempt of a
   * dead-lettered handler). Those are left for a later purge.
   */
  private from(change: DeliveryChange, filter: CheckedDeliveryFilter, params: SqlParams): string {
    const passed = change === 'purge';
    const join =
      passed || needsEvent(filter) ? `JOIN ${this.tables.outbox} e ON e.id = d.event_id` : '';
    const conditions = deliveryConditions(filter, params);
    if (passed) {
      conditions.push(`EXISTS (SELECT 1 FROM ${this.tables.sequencer} s
                        WHERE s.id = 1 AND pg_visible_in_snapshot(e.tx_id, s.horizon))`);
    }
    return `FROM ${this.tables.delivery} d ${join} ${where(conditions)}`;
  }
}
