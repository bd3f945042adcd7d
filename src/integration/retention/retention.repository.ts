import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';

/** The tables retention purges besides the outbox, each by its own age column. */
export enum RetentionTarget {
  /** `inbox_event`, by `updated_at` (the last attempt or the processed mark). */
  Inbox = 'inbox',
  /** `integration_audit`, by `created_at`. */
  Audit = 'audit',
  /** `integration_consumer_stats`, by `bucket` (the minute). */
  Stats = 'stats',
  /** Dead-lettered rows of `integration_delivery`, by `updated_at` (when they became dead letters). */
  DeadLetters = 'dead-letters',
}

/** Age cut-off of every statement: `$1` milliseconds before the database's `now()`. */
const CUTOFF = `now() - $1::bigint * interval '1 millisecond'`;

function retentionStatements(t: IntegrationTables): Readonly<Record<RetentionTarget, string>> {
  // Each statement deletes at most $2 rows picked through an index on its age column (the
  // inbox has none: a bounded table's sequential scan, see docs/operations.md), skipping rows
  // another transaction holds.
  return {
    [RetentionTarget.Inbox]: `WITH doomed AS (
         SELECT event_id, consumer_name FROM ${t.inbox}
          WHERE updated_at < ${CUTOFF} LIMIT $2::int FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${t.inbox} i USING doomed
          WHERE i.event_id = doomed.event_id AND i.consumer_name = doomed.consumer_name RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
    [RetentionTarget.Audit]: `WITH doomed AS (
         SELECT id FROM ${t.audit} WHERE created_at < ${CUTOFF}
          ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${t.audit} a USING doomed WHERE a.id = doomed.id RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
    [RetentionTarget.Stats]: `WITH doomed AS (
         SELECT bucket, consumer_name, worker_id FROM ${t.consumerStats}
          WHERE bucket < ${CUTOFF} ORDER BY bucket LIMIT $2::int FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${t.consumerStats} s USING doomed
          WHERE s.bucket = doomed.bucket AND s.consumer_name = doomed.consumer_name
            AND s.worker_id = doomed.worker_id RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
    [RetentionTarget.DeadLetters]: `WITH doomed AS (
         SELECT event_id, consumer_name FROM ${t.delivery}
          WHERE status = 'dead_letter' AND updated_at < ${CUTOFF}
          LIMIT $2::int FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${t.delivery} d USING doomed
          WHERE d.event_id = doomed.event_id AND d.consumer_name = doomed.consumer_name
            AND d.status = 'dead_letter' RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
  };
}

/**
 * Retention's SQL besides the outbox's own purge (`OutboxRepository.purgeFinishedBatch`): one
 * bounded DELETE per call, and the advisory lock that lets one instance purge at a time.
 */
@Injectable()
export class RetentionRepository {
  private readonly statements: Readonly<Record<RetentionTarget, string>>;

  constructor(tables: IntegrationTables) {
    this.statements = retentionStatements(tables);
  }

  /** Deletes up to `batchSize` rows of `target` older than `olderThanMs`; returns how many. */
  async purgeBatch(
    sql: SqlExecutor,
    target: RetentionTarget,
    olderThanMs: number,
    batchSize: number,
  ): Promise<number> {
    const result = await sql.query<{ n: number }>(this.statements[target], [
      olderThanMs,
      batchSize,
    ]);
    return result.rows[0]?.n ?? 0;
  }

  /**
   * Takes the retention lock for the rest of `sql`'s transaction, without waiting: true when
   * this transaction holds it, false when another holds it.
   */
  async tryLock(sql: SqlExecutor, keys: readonly [number, number]): Promise<boolean> {
    const result = await sql.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_xact_lock($1::int, $2::int) AS locked',
      [...keys],
    );
    return result.rows[0]?.locked === true;
  }
}
