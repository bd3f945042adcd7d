import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { ClaimedDelivery } from './delivery.types';

/** The statement of {@link DeliveryMark} for one set of tables, built once per instance. */
function markStatement(t: IntegrationTables): string {
  // Fenced by worker and attempt: a delivery whose lease expired and was claimed again (by this
  // instance or another) is not this claim's to mark. Rows are locked in key order so two
  // overlapping marks cannot deadlock.
  // The input drives the join (LATERAL, one primary-key probe per delivery): on a table without
  // statistics yet (a fresh deployment's first minutes) the planner otherwise starts from the
  // processing rows and re-reads the JSON input for each of them. The probe names no status
  // (`locked_by` is set exactly while processing): with one, the planner may scan a partial
  // index through its second column instead of probing the primary key (see the settle
  // statement of DeliveryRepository). The locked rows are then
  // updated by ctid (they cannot move while locked), as a TID scan of their list: joined on
  // ctid, the planner may hash the input and scan the whole table for it (it did, on tables
  // of up to some ten thousand rows: one sequential scan per mark).
  return `WITH target AS (
      SELECT d.row_id
        FROM (SELECT * FROM jsonb_to_recordset($2::jsonb)
                AS x(event_id uuid, consumer_name text, attempt integer)
               ORDER BY x.consumer_name, x.event_id) AS x
       CROSS JOIN LATERAL (
         SELECT d.ctid AS row_id FROM ${t.delivery} AS d
          WHERE d.consumer_name = x.consumer_name AND d.event_id = x.event_id
            AND d.locked_by = $1::text AND d.attempt_count = x.attempt
            FOR UPDATE OF d) AS d
    )
    UPDATE ${t.delivery} AS d
       SET status = 'processed', processed_at = now(), updated_at = now(), last_error = NULL,
           locked_by = NULL, locked_until = NULL
     WHERE d.ctid = ANY (ARRAY(SELECT target.row_id FROM target))
    RETURNING d.event_id::text AS event_id`;
}

/**
 * The processed mark of deliveries: the one primitive every runner is built on. Written inside
 * the handlers' transaction, it commits (or rolls back) together with their effects, which is
 * what makes those effects exactly once; from the mark on, its row locks keep other instances
 * off the deliveries until that transaction ends.
 */
@Injectable()
export class DeliveryMark {
  private readonly statement: string;

  constructor(tables: IntegrationTables) {
    this.statement = markStatement(tables);
  }

  /**
   * Marks `deliveries` processed (processed_at now, last error and lock cleared) in one
   * statement, each only while this worker's claim of that attempt still holds it.
   * @returns the ids of the events marked; a delivery missing from it has lost its lease: its
   * handlers must not run (or their writes must roll back).
   */
  async mark(
    sql: SqlExecutor,
    workerId: string,
    deliveries: readonly ClaimedDelivery[],
  ): Promise<Set<string>> {
    if (deliveries.length === 0) return new Set();
    const result = await sql.query<{ event_id: string }>(this.statement, [
      workerId,
      JSON.stringify(
        deliveries.map((d) => ({
          event_id: d.eventId,
          consumer_name: d.consumer,
          attempt: d.attempt,
        })),
      ),
    ]);
    return new Set(result.rows.map((r) => r.event_id));
  }
}
