import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { IntegrationDatabaseAdapter, SqlExecutor } from '../database/sql-executor';
import { EVENT_COLUMNS, mapEventRow, type EventRow } from '../outbox/outbox.repository';
import { sortClaimed } from './claim-order';
import type { ClaimedDelivery } from './delivery.types';

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
  /** Some event of the run has a tenant (`tenant_id` set). */
  readonly tenanted: boolean;
}

/** What a run's statement returns about the run itself (on each row). */
interface RunRow {
  events: number;
  deliveries: number;
  more: boolean;
  tenanted: boolean;
}

/** The result of a statement that did not run (see {@link EventSequencer.sequence}). */
const NOT_RUN: SequenceResult = {
  locked: false,
  events: 0,
  deliveries: 0,
  more: false,
  tenanted: false,
};

const runResult = (row: RunRow): SequenceResult => ({
  locked: true,
  events: row.events,
  deliveries: row.deliveries,
  more: row.more,
  tenanted: row.tenanted,
});

/** A row of the claiming run: an event and the consumers it was claimed for. */
type FreshlyClaimedRow = EventRow & { consumers: string[]; claimed_position: string };

/** What {@link EventSequencer.sequenceAndClaim} claims, for whom. */
export interface FreshClaim {
  readonly workerId: string;
  /** The consumers this instance hosts. */
  readonly consumers: readonly string[];
  readonly leaseMs: number;
  /** Per consumer, most deliveries of one key (`KeyRunLimits`). */
  readonly runLimits: Readonly<Record<string, number>>;
}

/** The parameters both claiming runs start with ($1 – $5, see `claimingRun`). */
const claimParams = (limit: number, claim: FreshClaim): unknown[] => [
  limit,
  claim.workerId,
  JSON.stringify(claim.consumers),
  claim.leaseMs,
  JSON.stringify(claim.runLimits),
];

/** Makes the statement's own transaction commit asynchronously (see the outbox repository). */
const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

/** The outbox columns a run reads. */
const RUN_COLUMNS =
  'o.id, o.event_name, o.ordering_key, o.available_at, o.tenant_id, o.tx_id, o.seq';

/** Every statement of {@link EventSequencer} for one set of tables, built once per instance. */
function sequencerStatements(t: IntegrationTables) {
  // Events not yet fanned out as of the horizon `h`: their transaction was still running at `h`
  // (in its xip) or had not started (>= its xmax).
  const newSince = (h: string, xip: string, o = 'o'): string =>
    `(${o}.tx_id >= pg_snapshot_xmax(${h}) OR ${o}.tx_id = ANY (${xip}))`;
  // Not fanned out yet: past the horizon, not taken from the open window (up to where this run
  // leaves it, 'cur'), and without deliveries (the lane took it). 'o': the outbox row. The
  // delivery probe has OFFSET 0 so that it stays a probe of the primary key per row: as an
  // anti-join the planner hashes the candidates and reads every one.
  const waiting = (o: string): string =>
    `${newSince('(SELECT f.h FROM fresh f)', '(SELECT f.xip FROM fresh f)::xid8[]', o)}
            AND NOT (pg_visible_in_snapshot(${o}.tx_id, (SELECT f.win FROM fresh f))
                     AND (${o}.tx_id, ${o}.seq) <= ((SELECT c.tx FROM cur c), (SELECT c.seq FROM cur c)))
            AND NOT EXISTS (SELECT 1 FROM ${t.delivery} d WHERE d.event_id = ${o}.id OFFSET 0)`;
  // The tenant lane (`scanParam`, the parameter of how many of the newest events it looks at,
  // 0: off). While a window is open (the previous run stopped at its limit: a backlog,
  // typically one tenant's flood), a run also looks at the newest events ('scan') and, for
  // each tenant with few of them ('cand': at most a tenth; not the flood), at every event of
  // that tenant still waiting ('fetched', read from outbox_event_tenant_tx_idx, at most a tenth
  // of the scan plus one). A tenant with no more than that waiting ('light') has all of them
  // fanned out now, after the run's own events, in the order the runs would have given them: a
  // quiet tenant's event waits one run, not the whole backlog, and order per tenant holds.
  // Across tenants it does not: an ordering key shared by two tenants is ordered per tenant.
  // The run that later reaches those events in order fans them out again, which the delivery
  // table's key turns into nothing ('waiting' leaves out events with deliveries). Events
  // without a tenant never take the lane. Each part reads an index in order up to a limit, so
  // a run costs the same however long the backlog.
  const tenantLane = (columns: string, scanParam: string): string => {
    // Most events a light tenant has among the scanned and among the waiting: a tenth of the scan.
    const LIGHT = `(${scanParam}::int / 10)`;
    return `, cur AS (
         -- Where this run leaves the window: its last event, else the stored progress.
         SELECT coalesce(e.tx_id, f.after_tx) AS tx, coalesce(e.seq, f.after_seq) AS seq
           FROM fresh f
           LEFT JOIN (SELECT ev.tx_id, ev.seq FROM ev ORDER BY ev.tx_id DESC, ev.seq DESC LIMIT 1) e
             ON true
       ), scan AS (
         SELECT o.tenant_id
           FROM ${t.outbox} o
          WHERE ${scanParam}::int > 0 AND (SELECT f.after_tx FROM fresh f) IS NOT NULL
            AND o.tx_id >= (SELECT pg_snapshot_xmin(f.h) FROM fresh f)
          ORDER BY o.tx_id DESC, o.seq DESC
          LIMIT ${scanParam}::int
       ), cand AS MATERIALIZED (
         SELECT s.tenant_id FROM scan s WHERE s.tenant_id IS NOT NULL
          GROUP BY s.tenant_id HAVING count(*) <= ${LIGHT}
       ), fetched AS MATERIALIZED (
         SELECT w.*, NOT pg_visible_in_snapshot(w.tx_id, (SELECT f.win FROM fresh f)) AS late
           FROM cand c
           CROSS JOIN LATERAL (
             SELECT ${columns.replace(/\bo\./g, 'w.')}
               FROM ${t.outbox} w
              WHERE w.tenant_id = c.tenant_id AND w.tenant_id IS NOT NULL
                -- Led by the tenant: only the tenant's index serves it (on (tx_id, seq) the
                -- planner would read every tenant's events past the horizon).
                AND (w.tenant_id, w.tx_id) >= (c.tenant_id, (SELECT pg_snapshot_xmin(f.h) FROM fresh f))
                AND ${waiting('w')}
              ORDER BY w.tenant_id, w.tx_id, w.seq
              LIMIT ${LIGHT} + 1) w
       ), lane AS (
         SELECT fe.*, true AS lane FROM fetched fe
          WHERE fe.tenant_id IN (SELECT f2.tenant_id FROM fetched f2
                                  GROUP BY f2.tenant_id HAVING count(*) <= ${LIGHT})
            -- Events that match no consumer stay out: they get no delivery, so nothing would
            -- mark them taken (and they need no place in any order).
            AND EXISTS (SELECT 1 FROM ${t.consumer} c
                         WHERE c.status = 'active' AND ('.' || fe.event_name) ~ c.pattern_regex)
       )`;
  };
  // The events of this run, numbered, with `columns` of each (more than the run itself needs
  // when the statement returns the events): the CTEs both statements start with. The sequencer
  // row is the mutex: FOR UPDATE SKIP LOCKED returns nothing while another run holds it, and
  // otherwise (READ COMMITTED re-reads a row locked after a concurrent update) its latest
  // version, even when this statement's snapshot was taken before the previous run committed.
  // `fresh` then checks that this snapshot sees everything the stored window/horizon saw: a
  // statement whose snapshot is older does nothing (it would skip events it cannot see yet).
  // It also checks that the row it locked is the version its snapshot reads (same xmin): a
  // statement whose snapshot was taken before the previous run committed cannot see that run's
  // deliveries, and would claim a key's later events while its earlier ones wait unclaimed.
  // `laneScan`: the parameter of the tenant lane's scan, null: no lane.
  const numberedEvents = (columns: string, laneScan: string | null): string => `locked AS (
         SELECT s.*, s.xmin AS row_xmin FROM ${t.sequencer} s WHERE s.id = 1 FOR UPDATE SKIP LOCKED
       ), st AS (
         SELECT coalesce(s.window_snapshot, pg_current_snapshot()) AS win,
                s.horizon AS h, ARRAY(SELECT pg_snapshot_xip(s.horizon)) AS xip,
                s.after_tx, s.after_seq, s.next_position
           FROM locked s
          WHERE s.row_xmin = (SELECT s0.xmin FROM ${t.sequencer} s0 WHERE s0.id = 1)
       ), fresh AS (
         SELECT st.* FROM st
          WHERE pg_snapshot_xmax(pg_current_snapshot()) >= pg_snapshot_xmax(st.win)
            AND pg_snapshot_xmax(pg_current_snapshot()) >= pg_snapshot_xmax(st.h)
            AND NOT EXISTS (SELECT 1 FROM pg_snapshot_xip(pg_current_snapshot()) AS r(xid)
                             WHERE pg_visible_in_snapshot(r.xid, st.win)
                                OR pg_visible_in_snapshot(r.xid, st.h))
       ), ev AS (
         -- The outbox alone in FROM, the run's values as scalar sub-selects (computed once,
         -- before the scan): so the scan can read the (tx_id, seq) index in order and stop at
         -- the LIMIT. Joined with fresh, the planner may read and sort the whole outbox.
         -- When fresh is empty every sub-select is NULL and nothing is selected.
         SELECT ${columns}
           FROM ${t.outbox} o
          -- The bounds add nothing logically (every new event is at or past the lower one, and
          -- a transaction the window sees committed is below its xmax): the lower one keeps the
          -- scan from walking the history already fanned out, and with both the planner
          -- reads the index in order up to the LIMIT. With the lower one alone it estimated a
          -- third of the table and read and sorted the whole backlog on every run (11 ms of a
          -- 20,000-event backlog in windows of 500, against 0.4 ms).
          WHERE o.tx_id >= (SELECT CASE WHEN f.after_tx IS NULL THEN pg_snapshot_xmin(f.h)
                                        ELSE greatest(f.after_tx, pg_snapshot_xmin(f.h)) END
                              FROM fresh f)
            AND o.tx_id < (SELECT pg_snapshot_xmax(f.win) FROM fresh f)
            AND ${newSince('(SELECT f.h FROM fresh f)', '(SELECT f.xip FROM fresh f)::xid8[]')}
            AND pg_visible_in_snapshot(o.tx_id, (SELECT f.win FROM fresh f))
            AND ((SELECT f.after_tx FROM fresh f) IS NULL
                 OR (o.tx_id, o.seq) > ((SELECT f.after_tx FROM fresh f), (SELECT f.after_seq FROM fresh f)))
          ORDER BY o.tx_id, o.seq
          LIMIT $1::int
       )${laneScan ? tenantLane(columns, laneScan) : ''}, numbered AS (
         -- This run's events in order, then the lane's (those of the open window first).
         SELECT x.*,
                st.next_position + row_number() OVER (ORDER BY x.lane, x.late, x.tx_id, x.seq) - 1
                  AS position
           FROM (SELECT ev.*, false AS late, false AS lane FROM ev
                 ${laneScan ? 'UNION ALL SELECT * FROM lane' : ''}) x, fresh st
       ), fan AS (
         -- One delivery per (event, active consumer whose patterns match).
         SELECT n.id AS event_id, c.name AS consumer_name, n.position, n.ordering_key, n.available_at,
                n.tenant_id, n.lane
           FROM numbered n
           JOIN ${t.consumer} c ON c.status = 'active' AND ('.' || n.event_name) ~ c.pattern_regex
       ), run AS (
         -- The last event taken in (tx_id, seq) order, the lane's aside: where an unfinished
         -- window goes on. 'n' counts those events (the limit applies to them), 'total' the lane's too.
         SELECT count(*) FILTER (WHERE NOT lane)::int AS n, count(*)::int AS total,
                max(tx_id) FILTER (WHERE NOT lane) AS last_tx,
                (array_agg(seq ORDER BY tx_id DESC, seq DESC) FILTER (WHERE NOT lane))[1] AS last_seq,
                coalesce(bool_or(tenant_id IS NOT NULL), false) AS tenanted
           FROM numbered
       )`;
  // The events this run fanned out: those it created deliveries for, and those no consumer
  // matches (they need none). Not an event the tenant lane fanned out before the run in order
  // reached it: its deliveries exist, so the run inserts nothing for it (counted once). The
  // lane takes only events with a tenant, so a run without any takes the plain count (the
  // count by deliveries costs about 0.4 ms per 500 events).
  const FANNED_OUT = `CASE WHEN NOT run.tenanted THEN run.total
                           ELSE (SELECT count(*)::int FROM numbered n
                                  WHERE n.id IN (SELECT i.event_id FROM ins i)
                                     OR n.id NOT IN (SELECT f.event_id FROM fan f)) END`;
  // Moves the sequencer past this run (the horizon only when the window is done), committed
  // asynchronously with everything the statement wrote.
  const advance = `UPDATE ${t.sequencer} s SET
              next_position = s.next_position + run.total,
              horizon = CASE WHEN run.n < $1::int THEN st.win ELSE s.horizon END,
              window_snapshot = CASE WHEN run.n < $1::int THEN NULL ELSE st.win END,
              after_tx = CASE WHEN run.n < $1::int THEN NULL ELSE run.last_tx END,
              after_seq = CASE WHEN run.n < $1::int THEN NULL ELSE run.last_seq END,
              updated_at = now()
         FROM fresh st, run, ${ASYNC_COMMIT}
        WHERE s.id = 1
       RETURNING ${FANNED_OUT} AS events, (SELECT count(*)::int FROM ins) AS deliveries,
                 run.n >= $1::int AS more, run.tenanted`;
  // Committed events (visible to this statement) past the horizon and not yet fanned out by an
  // unfinished window; `tenant` is SQL that limits them (`''`: every tenant).
  const pendingCountSql = (tenant: string): string =>
    `SELECT count(*)::int AS n
         FROM ${t.sequencer} s
         JOIN ${t.outbox} o ON o.tx_id >= pg_snapshot_xmin(s.horizon)
          AND ${newSince('s.horizon', 'ARRAY(SELECT pg_snapshot_xip(s.horizon))')}
        WHERE s.id = 1
          AND (s.window_snapshot IS NULL OR NOT pg_visible_in_snapshot(o.tx_id, s.window_snapshot)
               OR (o.tx_id, o.seq) > (s.after_tx, s.after_seq))${tenant}`;
  // A run that also creates the deliveries it can claim for this worker already claimed
  // (processing, leased, attempt 1): saves the claim's UPDATE of each, and puts an event just
  // committed one statement away from its handlers. A new delivery is claimed when its consumer
  // is hosted here, it is due, no unfinished delivery of its consumer and key exists already,
  // and every earlier new one of its consumer and key is claimed too (due, within the
  // consumer's run limit): the claim's rules, for rows no other claim can see yet. The rest are
  // created pending, as by the plain run. Due means by the clock, not by now(): now() is when
  // the statement arrived, and an event whose transaction began after that (its available_at
  // defaults to that transaction's now()) may still have committed before the statement's
  // snapshot, which is taken after planning; such an event would be created pending, not
  // claimed. Parameters: $1 the run's limit, $2 worker, $3 hosted consumers (JSON), $4 lease
  // ms, $5 run limits (JSON object). With `lane`, the run has the tenant lane ($6: its scan)
  // and claims only the lane's deliveries whose key has no earlier delivery in the run outside
  // the lane, at most $7 per consumer.
  // For the lane's claims: whether a key's new deliveries so far are all the lane's, and the
  // place of a lane delivery among its consumer's.
  const LANE_RANKS = `,
                bool_and(f.lane) OVER k AS lane_so_far,
                row_number() OVER (PARTITION BY f.consumer_name, f.lane ORDER BY f.position)
                  AS lane_rank`;
  const claimingRun = (
    lane: boolean,
  ): string => `WITH ${numberedEvents('o.*', lane ? '$6' : null)}, ranked AS (
         SELECT f.*,
                f.consumer_name = ANY (ARRAY(SELECT jsonb_array_elements_text($3::jsonb))) AS hosted,
                row_number() OVER k AS key_rank,
                bool_and(f.available_at <= clock_timestamp()) OVER k AS due_so_far${lane ? LANE_RANKS : ''}
           FROM fan f
         WINDOW k AS (PARTITION BY f.consumer_name, f.ordering_key ORDER BY f.position)
       ), take AS (
         SELECT r.event_id, r.consumer_name, r.position, r.ordering_key, r.available_at, r.tenant_id,
                (r.hosted AND r.due_so_far
                 AND r.key_rank <= coalesce(($5::jsonb ->> r.consumer_name)::int, $1::int)
                 ${lane ? 'AND r.lane_so_far AND r.lane_rank <= $7::int' : ''}
                 AND NOT EXISTS (
                   SELECT 1 FROM ${t.delivery} b
                    WHERE b.consumer_name = r.consumer_name AND b.ordering_key = r.ordering_key
                      AND b.status IN ('pending', 'processing'))) AS claimed
           FROM ranked r
       ), ins AS (
         INSERT INTO ${t.delivery} (event_id, consumer_name, position, ordering_key, available_at,
                                    tenant_id, status, locked_by, locked_until, attempt_count,
                                    claim_count)
         SELECT event_id, consumer_name, position, ordering_key, available_at, tenant_id,
                CASE WHEN claimed THEN 'processing' ELSE 'pending' END,
                CASE WHEN claimed THEN $2::text END,
                CASE WHEN claimed THEN now() + $4::int * interval '1 millisecond' END,
                CASE WHEN claimed THEN 1 ELSE 0 END, CASE WHEN claimed THEN 1 ELSE 0 END
           FROM take
         ON CONFLICT DO NOTHING
         RETURNING event_id, consumer_name, status
       ), advanced AS (
         ${advance}
       ), claimed AS (
         SELECT i.event_id, array_agg(i.consumer_name) AS consumers
           FROM ins i WHERE i.status = 'processing' GROUP BY i.event_id
       )
       -- One row per event with the consumers it was claimed for (a claim's other fields are
       -- known: attempt 1, no lease expired, no error), the run's counts on each; one row of
       -- counts alone when nothing was claimed.
       SELECT a.events, a.deliveries, a.more, a.tenanted, c.*
         FROM advanced a
         LEFT JOIN (SELECT cl.consumers, e.position::text AS claimed_position, ${EVENT_COLUMNS}
                      FROM claimed cl JOIN numbered e ON e.id = cl.event_id) c ON true`;
  return {
    // One statement, its own (asynchronously committed) transaction.
    run: `WITH ${numberedEvents(RUN_COLUMNS, '$2')}, ins AS (
         INSERT INTO ${t.delivery} (event_id, consumer_name, position, ordering_key, available_at,
                                    tenant_id)
         SELECT event_id, consumer_name, position, ordering_key, available_at, tenant_id FROM fan
          ORDER BY position, consumer_name
         ON CONFLICT DO NOTHING
         RETURNING event_id
       )
       ${advance}`,
    // The run that claims what it creates (see claimingRun): the limit is the batch size, so
    // no consumer gets more than a batch.
    runAndClaim: claimingRun(false),
    // The run that claims the tenant lane's deliveries only (see claimingRun): light tenants'
    // events fanned out ahead of a flood, run beside the batches of the flood (see
    // OutboxProcessor), so that a quiet tenant's event waits for neither the flood's
    // sequencing nor a free batch slot.
    runAndClaimLane: claimingRun(true),
    pendingCount: pendingCountSql(''),
    // The same for one tenant's events ($1; '' for events without a tenant).
    tenantPendingCount: pendingCountSql(` AND coalesce(o.tenant_id, '') = $1::text`),
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
   * @param limit Most events fanned out in commit order by this run (an integer ≥ 1).
   * @param lane How many of the newest waiting events the tenant lane looks at while a window is
   *   open (see the statement); 0 turns the lane off. Its events come on top of `limit`.
   */
  async sequence(db: IntegrationDatabaseAdapter, limit: number, lane = 0): Promise<SequenceResult> {
    const run = await db.root.query<RunRow>(this.statements.run, [limit, lane]);
    const row = run.rows[0];
    // No row: another run holds the sequencer row, or this statement's snapshot is older than
    // the stored progress (the next run will see more).
    if (!row) return NOT_RUN;
    return runResult(row);
  }

  /**
   * One run that also claims for `claim.workerId` the deliveries it creates that a claim could
   * take at once (see the statement), in the same statement: they come back claimed, sorted
   * like {@link DeliveryRepository.claim}'s. When another instance is sequencing, nothing is
   * claimed either: claim the usual way.
   * @param limit Most events fanned out by this run (an integer ≥ 1): the batch size, so that
   *   no consumer is claimed more than a batch.
   */
  async sequenceAndClaim(
    db: IntegrationDatabaseAdapter,
    limit: number,
    claim: FreshClaim,
  ): Promise<SequenceResult & { readonly claimed: ClaimedDelivery[] }> {
    return this.claimingRun(db, this.statements.runAndClaim, claimParams(limit, claim));
  }

  /**
   * One run like {@link sequence} (with the tenant lane) that claims for `claim.workerId` the
   * lane's deliveries a claim could take at once, at most `claim.batchSize` per consumer: light
   * tenants' events that a flood's window would otherwise keep waiting, ready to run beside the
   * flood's batches. Deliveries of events the run takes in commit order are created pending,
   * as are lane deliveries whose key has an earlier one among them.
   * @param limit Most events fanned out in commit order by this run (an integer ≥ 1).
   * @param lane How many of the newest waiting events the lane looks at (0: no lane, no claim).
   */
  async sequenceAndClaimLane(
    db: IntegrationDatabaseAdapter,
    limit: number,
    lane: number,
    claim: FreshClaim & { readonly batchSize: number },
  ): Promise<SequenceResult & { readonly claimed: ClaimedDelivery[] }> {
    return this.claimingRun(db, this.statements.runAndClaimLane, [
      ...claimParams(limit, claim),
      lane,
      claim.batchSize,
    ]);
  }

  /** Sends a claiming run; its result, with what it claimed sorted like the claim's. */
  private async claimingRun(
    db: IntegrationDatabaseAdapter,
    statement: string,
    params: readonly unknown[],
  ): Promise<SequenceResult & { readonly claimed: ClaimedDelivery[] }> {
    const { rows } = await db.root.query<RunRow & Partial<FreshlyClaimedRow>>(statement, params);
    const first = rows[0];
    if (!first) return { ...NOT_RUN, claimed: [] };
    const claimed: ClaimedDelivery[] = [];
    for (const row of rows) {
      if (!row.consumers) continue;
      const event = mapEventRow(row as FreshlyClaimedRow);
      for (const consumer of row.consumers) {
        claimed.push({
          eventId: event.id,
          consumer,
          position: row.claimed_position!,
          orderingKey: event.orderingKey,
          attempt: 1,
          leaseExpired: false,
          lastError: null,
          event,
        });
      }
    }
    return { ...runResult(first), claimed: sortClaimed(claimed) };
  }

  /**
   * Committed events not yet fanned out (for drain and idle checks): events whose transaction
   * this statement sees committed and the horizon did not, less those an unfinished window
   * already took.
   * @param tenant Only this tenant's events (`null`: those without a tenant); omitted: every one.
   */
  async pendingCount(sql: SqlExecutor, tenant?: string | null): Promise<number> {
    const { rows } = await sql.query<{ n: number }>(
      tenant === undefined ? this.statements.pendingCount : this.statements.tenantPendingCount,
      tenant === undefined ? [] : [tenant ?? ''],
    );
    return rows[0]?.n ?? 0;
  }
}
