import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { IntegrationDatabaseAdapter, SqlExecutor } from '../database/sql-executor';

/** What one {@link EventSequencer.sequence} run did. */
export interface SequenceResult {
  /** False when another instance was sequencing: this run did nothing. */
  readonly locked: boolean;
  /** Events fanned out (each got the next position). */
  readonly events: number;
  /** Delivery rows created (events × matching active consumers). */
  readonly deliveries: number;
  /** The run stopped at its limit: more committed events are waiting, run again. */
  readonly more: boolean;
}

/** Makes the statement's own transaction commit asynchronously (see the outbox repository). */
const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

/** Every statement of {@link EventSequencer} for one set of tables, built once per instance. */
function sequencerStatements(t: IntegrationTables) {
  // Events not yet fanned out as of the horizon `h`: their transaction was still running at `h`
  // (in its xip) or had not started (>= its xmax).
  const newSince = (h: string, xip: string): string =>
    `(o.tx_id >= pg_snapshot_xmax(${h}) OR o.tx_id = ANY (${xip}))`;
  return {
    // One statement, its own (asynchronously committed) transaction. The sequencer row is the
    // mutex: FOR UPDATE SKIP LOCKED returns nothing while another run holds it, and otherwise
    // (READ COMMITTED re-reads a row locked after a concurrent update) its latest version, even
    // when this statement's snapshot was taken before the previous run committed. `fresh` then
    // checks that this snapshot sees everything the stored window/horizon saw: a statement
    // whose snapshot is older does nothing (it would skip events it cannot see yet).
    run: `WITH locked AS (
         SELECT s.* FROM ${t.sequencer} s WHERE s.id = 1 FOR UPDATE SKIP LOCKED
       ), st AS (
         SELECT coalesce(s.window_snapshot, pg_current_snapshot()) AS win,
                s.horizon AS h, ARRAY(SELECT pg_snapshot_xip(s.horizon)) AS xip,
                s.after_tx, s.after_seq, s.next_position,
                -- Adds nothing logically (every new event is at or past it): it is the lower
                -- bound of the (tx_id, seq) index scan, which then reads in order and stops at
                -- the LIMIT instead of walking the history already fanned out.
                CASE WHEN s.after_tx IS NULL THEN pg_snapshot_xmin(s.horizon)
                     ELSE greatest(s.after_tx, pg_snapshot_xmin(s.horizon)) END AS scan_from
           FROM locked s
       ), fresh AS (
         SELECT st.* FROM st
          WHERE pg_snapshot_xmax(pg_current_snapshot()) >= pg_snapshot_xmax(st.win)
            AND pg_snapshot_xmax(pg_current_snapshot()) >= pg_snapshot_xmax(st.h)
            AND NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS r(xid)
                             WHERE pg_visible_in_snapshot(r.xid, st.win)
                                OR pg_visible_in_snapshot(r.xid, st.h))
       ), ev AS (
         SELECT o.id, o.event_name, o.ordering_key, o.available_at, o.tx_id, o.seq
           FROM ${t.outbox} o, fresh st
          WHERE o.tx_id >= st.scan_from
            AND ${newSince('st.h', 'st.xip')}
            AND pg_visible_in_snapshot(o.tx_id, st.win)
            AND (st.after_tx IS NULL OR (o.tx_id, o.seq) > (st.after_tx, st.after_seq))
          ORDER BY o.tx_id, o.seq
          LIMIT $1::int
       ), numbered AS (
         SELECT ev.*, st.next_position + row_number() OVER (ORDER BY ev.tx_id, ev.seq) - 1 AS position
           FROM ev, fresh st
       ), ins AS (
         INSERT INTO ${t.delivery} (event_id, consumer_name, position, ordering_key, available_at)
         SELECT n.id, c.name, n.position, n.ordering_key, n.available_at
           FROM numbered n
           JOIN ${t.consumer} c ON c.status = 'active' AND ('.' || n.event_name) ~ c.pattern_regex
          ORDER BY n.position, c.name
         ON CONFLICT DO NOTHING
         RETURNING 1
       ), run AS (
         SELECT count(*)::int AS n,
                (SELECT tx_id FROM numbered ORDER BY position DESC LIMIT 1) AS last_tx,
                (SELECT seq FROM numbered ORDER BY position DESC LIMIT 1) AS last_seq
           FROM numbered
       )
       UPDATE ${t.sequencer} s SET
              next_position = s.next_position + run.n,
              horizon = CASE WHEN run.n < $1::int THEN st.win ELSE s.horizon END,
              window_snapshot = CASE WHEN run.n < $1::int THEN NULL ELSE st.win END,
              after_tx = CASE WHEN run.n < $1::int THEN NULL ELSE run.last_tx END,
              after_seq = CASE WHEN run.n < $1::int THEN NULL ELSE run.last_seq END,
              updated_at = now()
         FROM fresh st, run, ${ASYNC_COMMIT}
        WHERE s.id = 1
       RETURNING run.n AS events, (SELECT count(*)::int FROM ins) AS deliveries,
                 run.n >= $1::int AS more`,
    // Committed events (visible to this statement) past the horizon and not yet fanned out by
    // an unfinished window.
    pendingCount: `SELECT count(*)::int AS n
         FROM ${t.sequencer} s
         JOIN ${t.outbox} o ON o.tx_id >= pg_snapshot_xmin(s.horizon)
          AND ${newSince('s.horizon', 'ARRAY(SELECT pg_snapshot_xip(s.horizon))')}
        WHERE s.id = 1
          AND (s.window_snapshot IS NULL OR NOT pg_visible_in_snapshot(o.tx_id, s.window_snapshot)
               OR (o.tx_id, o.seq) > (s.after_tx, s.after_seq))`,
  } as const;
}

/**
 * Fans committed outbox events out to the active consumers, in commit order: one
 * `integration_delivery` row per (event, active consumer whose `pattern_regex` matches
 * `'.' || event_name`), all rows of an event with the same `position`.
 *
 * Why this is commit order: the outbox row records its transaction (`tx_id`), and each run
 * takes the events whose transaction its snapshot sees committed but the previous run's
 * snapshot (the `horizon`) did not. An event is therefore fanned out in the first run whose
 * snapshot sees its transaction committed, and positions only grow from run to run: an event
 * whose transaction commits later always gets a later position, whatever the order of their
 * INSERTs (sequence values, `seq`, are taken at INSERT, so they do not say this). Events that
 * became visible in the same run are ordered by (transaction id, seq): within a transaction,
 * publish order. A transaction still open holds nothing back: it is simply not visible yet,
 * and its events get positions in the run after it commits.
 *
 * Runs are serialized by the lock of the sequencer's row (one per schema), and never wait for
 * it: an instance that finds another one sequencing returns at once. A run that cannot take all new
 * events (its `limit`) fixes its snapshot as the `window_snapshot` and continues after the last
 * (tx_id, seq) it took; the horizon moves only when a window is done. Runs commit
 * asynchronously: a run lost in a crash is simply redone (its rows and its progress go
 * together).
 */
@Injectable()
export class EventSequencer {
  private readonly statements: ReturnType<typeof sequencerStatements>;

  constructor(tables: IntegrationTables) {
    this.statements = sequencerStatements(tables);
  }

  /**
   * One run, one statement; returns what it did. Never blocks: when another instance is
   * sequencing (its row is locked) it returns `{ locked: false }` with zeros.
   * @param limit Most events fanned out by this run (an integer ≥ 1).
   */
  async sequence(db: IntegrationDatabaseAdapter, limit: number): Promise<SequenceResult> {
    const run = await db.root.query<{ events: number; deliveries: number; more: boolean }>(
      this.statements.run,
      [limit],
    );
    const row = run.rows[0];
    // No row: another run holds the sequencer row, or this statement's snapshot is older than
    // the stored progress (the next run will see more).
    if (!row) return { locked: false, events: 0, deliveries: 0, more: false };
    return { locked: true, events: row.events, deliveries: row.deliveries, more: row.more };
  }

  /**
   * Committed events not yet fanned out (for drain and idle checks): events whose transaction
   * this statement sees committed and the horizon did not, less those an unfinished window
   * already took.
   */
  async pendingCount(sql: SqlExecutor): Promise<number> {
    const { rows } = await sql.query<{ n: number }>(this.statements.pendingCount);
    return rows[0]?.n ?? 0;
  }
}
