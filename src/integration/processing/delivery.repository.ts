import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { IntegrationDatabaseAdapter, SqlExecutor } from '../database/sql-executor';
import { checkEventId } from '../outbox/outbox-query.validation';
import { EVENT_COLUMNS, mapEventRow, type EventRow } from '../outbox/outbox.repository';
import { clampDelay, truncateError } from '../database/stored-values';
import { MAX_TIMER_DELAY_MS } from '../utils/retry';
import { byPosition, sortClaimed } from './claim-order';
import type { TenantCursors } from './tenant-cursors';
import type { CheckedReplayFilter } from './delivery-query.validation';
import {
  DeliveryStatus,
  type ClaimedDelivery,
  type DeliveryRecord,
  type SettleInstruction,
} from './delivery.types';

/** Delivery columns as {@link DELIVERY_COLUMNS} selects them (prefixed `d_`, apart from the event's). */
export interface DeliveryRow {
  d_event_id: string;
  d_consumer: string;
  d_position: string;
  d_ordering_key: string;
  d_status: string;
  d_attempt_count: number;
  d_claim_count: number;
  d_available_at: number;
  d_locked_by: string | null;
  d_locked_until: number | null;
  d_last_error: string | null;
  d_created_at: number;
  d_updated_at: number;
  d_processed_at: number | null;
}

const ms = (column: string): string =>
  `(extract(epoch from d.${column}) * 1000)::float8 AS d_${column}`;

/** Every delivery column of the row aliased `d`, cast so Prisma, Knex and pg agree; read them with {@link mapDelivery}. */
export const DELIVERY_COLUMNS = [
  'd.event_id::text AS d_event_id',
  'd.consumer_name AS d_consumer',
  'd.position::text AS d_position',
  'd.ordering_key AS d_ordering_key',
  'd.status AS d_status',
  'd.attempt_count AS d_attempt_count',
  'd.claim_count AS d_claim_count',
  ms('available_at'),
  'd.locked_by AS d_locked_by',
  ms('locked_until'),
  'd.last_error AS d_last_error',
  ms('created_at'),
  ms('updated_at'),
  ms('processed_at'),
].join(', ');

const toDate = (v: number | null): Date | null => (v === null ? null : new Date(v));

/** The delivery of a row selected with {@link DELIVERY_COLUMNS}. */
export function mapDelivery(row: DeliveryRow): DeliveryRecord {
  return {
    eventId: row.d_event_id,
    consumer: row.d_consumer,
    position: row.d_position,
    orderingKey: row.d_ordering_key,
    status: row.d_status as DeliveryStatus,
    attemptCount: row.d_attempt_count,
    claimCount: row.d_claim_count,
    availableAt: new Date(row.d_available_at),
    lockedBy: row.d_locked_by,
    lockedUntil: toDate(row.d_locked_until),
    lastError: row.d_last_error,
    createdAt: new Date(row.d_created_at),
    updatedAt: new Date(row.d_updated_at),
    processedAt: toDate(row.d_processed_at),
  };
}

/** One consumer's deliveries by status, with the age of its oldest due pending delivery. */
export interface ConsumerDeliveryStats {
  readonly consumer: string;
  readonly pending: number;
  readonly processing: number;
  readonly processed: number;
  readonly deadLetter: number;
  readonly skipped: number;
  /** Age in ms (since the delivery was created) of the oldest due pending delivery; 0 when none. */
  readonly oldestPendingAgeMs: number;
}

/**
 * One active consumer's unfinished work and dead letters, read cheaply enough for every metrics
 * scrape and health check: each count reads a partial index and stops at a cap.
 */
export interface ConsumerBacklog {
  readonly consumer: string;
  /** Pending deliveries, due or waiting for a retry (at most the cap). */
  readonly pending: number;
  /** Deliveries leased by an instance right now (at most the cap). */
  readonly processing: number;
  /** Dead letters waiting for a replay or a discard (at most the cap). */
  readonly deadLetter: number;
  /**
   * How long (ms) the longest-waiting due delivery among the consumer's next ones in line has
   * been due; `null` when none of them is due.
   */
  readonly oldestDueMs: number | null;
  /** How long (ms) the oldest lease still held was taken; `null` when nothing is leased. */
  readonly oldestLeaseMs: number | null;
}

/** A delivery's key: which consumer's delivery of which event. */
export interface DeliveryKey {
  readonly eventId: string;
  readonly consumer: string;
}

/**
 * Most tenants a claim looks at per consumer: the first ones in tenant order among those with
 * pending deliveries ("no tenant" counts as one, sorting first). Beyond it, the tenants past the
 * bound wait until fewer tenants have pending deliveries at once. Each costs one index probe.
 */
export const CLAIM_TENANTS = 100;

/** See the outbox repository's ASYNC_COMMIT: a lost claim or settle is harmless (redelivered). */
const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

/**
 * Claims are planned without JIT compilation. The planner cannot know how few consumers and
 * tenants a claim walks (a recursive scan, lists passed as JSON), so its cost estimate grows
 * with the backlog; past `jit_above_cost` (100,000 by default) a server built with LLVM (the
 * Debian packages and the official Docker images are) compiled every claim: 150-200 ms each
 * for a statement that runs in a few milliseconds, measured on PostgreSQL 15 with a backlog of
 * 40,000 deliveries. `SET LOCAL` holds for one transaction, so a claim runs in one of its own.
 */
const PLAN_WITHOUT_JIT = `SELECT set_config('jit', 'off', true)`;

// A delivery `d` is behind an earlier unfinished delivery of its consumer and key that keeps it
// from being claimed now, for sure: leased (valid lease; an expired one is a retry), waiting for
// its next attempt, or a retry (it goes alone, see the claim). Written as a scalar sub-select
// so PostgreSQL probes integration_delivery_key_idx per candidate (stopping at the LIMIT)
// instead of planning an anti-join over the whole table.
const keyNotBlockedIn = (delivery: string): string => `NOT (SELECT EXISTS (
              SELECT 1 FROM ${delivery} b
               WHERE b.consumer_name = d.consumer_name AND b.ordering_key = d.ordering_key
                 AND b.position < d.position AND b.status IN ('pending', 'processing')
                 AND (b.status = 'processing' OR b.available_at > now() OR b.attempt_count > 0)))`;

/**
 * Deliveries per consumer and status; `tenant` is SQL that limits the joined deliveries (`''`:
 * every tenant).
 */
const statsSql = (t: IntegrationTables, tenant: string): string =>
  `SELECT c.consumer,
              count(d.status) FILTER (WHERE d.status = 'pending')::int AS pending,
              count(d.status) FILTER (WHERE d.status = 'processing')::int AS processing,
              count(d.status) FILTER (WHERE d.status = 'processed')::int AS processed,
              count(d.status) FILTER (WHERE d.status = 'dead_letter')::int AS dead_letter,
              count(d.status) FILTER (WHERE d.status = 'skipped')::int AS skipped,
              (extract(epoch from (now() - min(d.created_at)
                 FILTER (WHERE d.status = 'pending' AND d.available_at <= now()))) * 1000)::float8 AS oldest_ms
         FROM (SELECT name AS consumer FROM ${t.consumer}
               UNION SELECT DISTINCT consumer_name FROM ${t.delivery}) c
         LEFT JOIN ${t.delivery} d ON d.consumer_name = c.consumer${tenant}
        GROUP BY c.consumer ORDER BY c.consumer`;

/**
 * Per active consumer, bounded counts and ages; `tenant` is SQL that limits each probe's
 * deliveries (`''`: every tenant). Each count reads its partial index (claim, lease, dead letter)
 * and stops at the cap ($1); the due wait looks at the next $2 deliveries in line only.
 */
const backlogSql = (t: IntegrationTables, tenant: string): string =>
  `SELECT c.name AS consumer,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'pending'${tenant} LIMIT $1::int) x)::int AS pending,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'processing'${tenant} LIMIT $1::int) x)::int AS processing,
         (SELECT count(*) FROM (SELECT 1 FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'dead_letter'${tenant} LIMIT $1::int) x)::int AS dead_letter,
         (SELECT (extract(epoch FROM now() - min(n.available_at)) * 1000)::float8
            FROM (SELECT d.available_at FROM ${t.delivery} d
                   WHERE d.consumer_name = c.name AND d.status = 'pending'${tenant}
                   ORDER BY d.position LIMIT $2::int) n
           WHERE n.available_at <= now()) AS oldest_due_ms,
         (SELECT (extract(epoch FROM now() - min(d.updated_at)) * 1000)::float8 FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'processing'${tenant}) AS oldest_lease_ms
         FROM ${t.consumer} c
        WHERE c.status = 'active'
        ORDER BY c.name`;

/**
 * Every statement of {@link DeliveryRepository} for one set of tables, built once per instance.
 *
 * Statements that take a list of deliveries find them with a LATERAL primary-key probe per
 * input row: on a table without statistics yet (a fresh deployment's first minutes) the planner
 * may otherwise start from the leased rows and re-read the JSON input for each of them, which
 * made one settle of 500 deliveries take seconds.
 */
function deliveryStatements(t: IntegrationTables) {
  const keyNotBlocked = keyNotBlockedIn(t.delivery);
  // Lists travel as one JSON parameter: every driver sends it the same way.
  const consumersParam = 'ARRAY(SELECT jsonb_array_elements_text($2::jsonb))';
  // The hosted consumers as rows. unnest of an array lets the planner assume a handful of them
  // (jsonb_array_elements_text alone is costed as 100 rows, which multiplies the claim's
  // estimate a hundredfold: enough to make PostgreSQL JIT-compile it, 0.5 s per claim).
  const hostedConsumers = `(SELECT DISTINCT name FROM unnest(${consumersParam}) AS u(name))`;
  const deadLetterSelect = `SELECT d.consumer_name, d.event_id FROM ${t.delivery} d
           JOIN ${t.outbox} e ON e.id = d.event_id
          WHERE d.status = 'dead_letter'
            AND ($1::uuid IS NULL OR d.event_id = $1::uuid)
            AND ($2::text IS NULL OR d.consumer_name = $2::text)
            AND ($3::text IS NULL OR e.event_name = $3::text)
            AND ($4::text IS NULL OR e.aggregate_type = $4::text)
            AND ($5::text IS NULL OR e.aggregate_id = $5::text)
            AND ($6::boolean OR coalesce(e.tenant_id, '') = coalesce($7::text, ''))
          ORDER BY d.position, d.consumer_name
          LIMIT $8::int`;
  return {
    // Fair across tenants: per hosted consumer, the tenants with pending deliveries (at most
    // CLAIM_TENANTS of them, in tenant order from where the consumer's last saturated scan
    // stopped, wrapping around: $6, see TenantCursors) are found by a loose index scan of the
    // tenant claim index (one probe per tenant), then the due scan runs per (consumer, tenant) on that
    // index, each reading in position order and stopping at the tenant's share: the batch size
    // for one or two tenants, 2 × batch / tenants beyond (so a claim locks at most about twice
    // the batch, whatever the number of tenants). The tenants' rows are then taken in turns
    // (every tenant's first due delivery, then every second...; by position within a turn) up
    // to the batch size, so a tenant with a backlog delays another tenant's delivery by one
    // batch at most. "No tenant" (NULL) is one tenant, keyed ''. Rows locked but not taken are
    // never updated and count as gaps of their keys; their locks go with the claim's transaction
    // (a claim runs in a transaction of its own, see PLAN_WITHOUT_JIT).
    // With `= ANY (consumers)` the planner cannot read positions in order across consumers and
    // sorts every pending row.
    // Locked rows are updated by their ctid (they cannot move while locked), found by a TID
    // scan of the list (ctid = ANY): joined on ctid or on the key columns alone, the planner may
    // hash the claimed rows and scan the whole table for them, once per claim.
    claim: `WITH RECURSIVE tenant_scan AS (
         SELECT h.name AS consumer_name, 1 AS n, coalesce(f.tenant, w.tenant) AS tenant,
                f.tenant IS NULL AS wrapped, c.after
           FROM ${hostedConsumers} h
          CROSS JOIN LATERAL (SELECT $6::jsonb ->> h.name AS after) c
          CROSS JOIN LATERAL (
            SELECT min(coalesce(d.tenant_id, '')) AS tenant FROM ${t.delivery} d
             WHERE d.consumer_name = h.name AND d.status = 'pending'
               AND (c.after IS NULL OR coalesce(d.tenant_id, '') > c.after)) f
          CROSS JOIN LATERAL (
            SELECT min(coalesce(d.tenant_id, '')) AS tenant FROM ${t.delivery} d
             WHERE d.consumer_name = h.name AND d.status = 'pending'
               AND coalesce(d.tenant_id, '') <= c.after) w
         UNION ALL
         -- The next tenant up; past the last one, the first one up to where the scan began.
         SELECT s.consumer_name, s.n + 1, coalesce(nx.tenant, CASE WHEN NOT s.wrapped THEN w.tenant END),
                s.wrapped OR nx.tenant IS NULL, s.after
           FROM tenant_scan s
          CROSS JOIN LATERAL (
            SELECT min(coalesce(d.tenant_id, '')) AS tenant FROM ${t.delivery} d
             WHERE d.consumer_name = s.consumer_name AND d.status = 'pending'
               AND coalesce(d.tenant_id, '') > s.tenant
               AND (NOT s.wrapped OR coalesce(d.tenant_id, '') <= s.after)) nx
          CROSS JOIN LATERAL (
            SELECT min(coalesce(d.tenant_id, '')) AS tenant FROM ${t.delivery} d
             WHERE d.consumer_name = s.consumer_name AND d.status = 'pending'
               AND NOT s.wrapped AND nx.tenant IS NULL
               AND coalesce(d.tenant_id, '') <= s.after) w
          WHERE s.tenant IS NOT NULL AND s.n < ${CLAIM_TENANTS}
       ), shares AS (
         SELECT s.consumer_name, s.tenant,
                least($3::int, ceil(2.0 * $3::int / count(*) OVER (PARTITION BY s.consumer_name)))::int AS share
           FROM tenant_scan s
          WHERE s.tenant IS NOT NULL
       ), leased AS MATERIALIZED (
         -- The keys with a delivery validly leased now, read once by the lease index: every
         -- other delivery of such a key waits (see keyNotBlocked), and a hashed NOT IN skips
         -- them at the cost of a hash lookup. Without it, a claim while other batches hold
         -- every key probed the key index once per pending delivery: the whole backlog.
         SELECT l.consumer_name, l.ordering_key FROM ${t.delivery} l
          WHERE l.status = 'processing' AND l.locked_until >= now()
            AND l.consumer_name IN ${hostedConsumers}
       ), due AS (
         SELECT c.*, false AS lease_expired,
                row_number() OVER (PARTITION BY c.consumer_name, s.tenant ORDER BY c.position) AS turn
           FROM shares s
          CROSS JOIN LATERAL (
            SELECT d.ctid AS row_id, d.consumer_name, d.event_id, d.ordering_key, d.position,
                   d.attempt_count
              FROM ${t.delivery} d
             WHERE d.consumer_name = s.consumer_name AND coalesce(d.tenant_id, '') = s.tenant
               AND d.status = 'pending' AND d.available_at <= now()
               AND (d.consumer_name, d.ordering_key) NOT IN (SELECT consumer_name, ordering_key FROM leased)
               AND ${keyNotBlocked}
             ORDER BY d.position LIMIT s.share
             FOR UPDATE OF d SKIP LOCKED) c
       ), taken AS (
         SELECT u.row_id, u.consumer_name, u.event_id, u.ordering_key, u.position, u.attempt_count,
                u.lease_expired
           FROM (SELECT due.*,
                        row_number() OVER (PARTITION BY due.consumer_name ORDER BY due.turn, due.position) AS pick
                   FROM due) u
          WHERE u.pick <= $3::int
       ), expired AS (
         SELECT d.ctid AS row_id, d.consumer_name, d.event_id, d.ordering_key, d.position,
                d.attempt_count, true AS lease_expired
           FROM ${t.delivery} d
          WHERE d.consumer_name IN ${hostedConsumers} AND d.status = 'processing' AND d.locked_until < now()
            AND ${keyNotBlocked}
          ORDER BY d.position LIMIT $3::int
          FOR UPDATE OF d SKIP LOCKED
       ), locked AS (
         SELECT * FROM taken UNION ALL SELECT * FROM expired
       ), gap AS (
         -- Per (consumer, key): its first unfinished delivery that this claim did not lock, if
         -- any. Only the locked deliveries before it may go (earlier ones are delivered first).
         -- Read per key on the key index, stopping at that delivery: linear in the batch.
         SELECT k.consumer_name, k.ordering_key,
                (SELECT p.position FROM ${t.delivery} p
                  WHERE p.consumer_name = k.consumer_name AND p.ordering_key = k.ordering_key
                    AND p.status IN ('pending', 'processing')
                    AND (p.consumer_name, p.event_id) NOT IN (SELECT x.consumer_name, x.event_id FROM locked x)
                  ORDER BY p.position LIMIT 1) AS gap_position
           FROM (SELECT DISTINCT consumer_name, ordering_key FROM locked) k
       ), ranked AS (
         SELECT l.row_id, l.consumer_name, l.event_id, l.position, l.lease_expired,
                row_number() OVER w AS rank,
                first_value(l.lease_expired OR l.attempt_count > 0) OVER w AS head_is_retry
           FROM locked l
           JOIN gap g ON g.consumer_name = l.consumer_name AND g.ordering_key = l.ordering_key
          WHERE g.gap_position IS NULL OR l.position < g.gap_position
         WINDOW w AS (PARTITION BY l.consumer_name, l.ordering_key ORDER BY l.position)
       ), eligible AS (
         -- No churn: a retried head goes alone; its followers wait until it succeeded, so a
         -- failing key is not claimed and released over and over. A consumer with a run limit
         -- (the run limits, see KeyRunLimits) takes at most that many of a key.
         SELECT * FROM ranked
          WHERE (rank = 1 OR NOT head_is_retry)
            AND rank <= coalesce(($5::jsonb ->> consumer_name)::int, $3::int)
       )
       UPDATE ${t.delivery} d
          SET status = 'processing', locked_by = $1,
              locked_until = now() + $4::int * interval '1 millisecond',
              attempt_count = d.attempt_count + 1, claim_count = d.claim_count + 1,
              updated_at = now()
         FROM eligible JOIN ${t.outbox} e ON e.id = eligible.event_id, ${ASYNC_COMMIT}
        WHERE d.ctid = ANY (ARRAY(SELECT el.row_id FROM eligible el)) AND d.ctid = eligible.row_id
       -- Where the consumer's next scan goes on: the last tenant of a scan that stopped at its
       -- bound (NULL when every tenant with pending deliveries fitted).
       RETURNING ${DELIVERY_COLUMNS}, eligible.lease_expired, ${EVENT_COLUMNS},
                 (SELECT s.tenant FROM tenant_scan s
                   WHERE s.consumer_name = eligible.consumer_name AND s.n = ${CLAIM_TENANTS}) AS scan_stop`,
    // One delivery taken now, whatever its due time (a redelivery by hand: test kits, tools);
    // never one that is finished or validly leased by anyone.
    takeOne: `UPDATE ${t.delivery} d
          SET status = 'processing', locked_by = $1,
              locked_until = now() + $4::int * interval '1 millisecond',
              attempt_count = d.attempt_count + 1, claim_count = d.claim_count + 1,
              updated_at = now()
         FROM ${t.outbox} e, (SELECT d0.status = 'processing' AS lease_expired FROM ${t.delivery} d0
                               WHERE d0.event_id = $2::uuid AND d0.consumer_name = $3::text) prior
        WHERE d.event_id = $2::uuid AND d.consumer_name = $3::text AND e.id = d.event_id
          AND (d.status IN ('pending', 'dead_letter') OR (d.status = 'processing' AND d.locked_until < now()))
       RETURNING ${DELIVERY_COLUMNS}, prior.lease_expired, ${EVENT_COLUMNS}`,
    // extendLease and settle find their rows by (event, consumer) and `locked_by`, naming no
    // status: `locked_by` is set exactly while a delivery is processing (every statement that
    // ends processing clears it), and the rows locked are then updated by ctid alone. With a
    // status in the lookup, the planner may scan a partial index (key, lease) through its
    // second column instead of probing the primary key: it did on PostgreSQL 15 with 100,000
    // retained rows, 172 buffers per delivery, a settle of 100 taking 5.5 ms instead of 1.7;
    // in the UPDATE, it scanned the lease index instead of the TID list.
    // The sub-select skips rows another transaction holds (a consumer transaction marking the
    // delivery processed): waiting for it would stall the heartbeat, and its row lock protects
    // the delivery meanwhile.
    extendLease: `WITH held AS (
         SELECT h.row_id FROM jsonb_to_recordset($2::jsonb) AS k(event_id uuid, consumer text)
          CROSS JOIN LATERAL (
            SELECT x.ctid AS row_id FROM ${t.delivery} x
             WHERE x.event_id = k.event_id AND x.consumer_name = k.consumer AND x.locked_by = $1
               FOR UPDATE OF x SKIP LOCKED) h
       )
       UPDATE ${t.delivery} d SET locked_until = now() + $3::int * interval '1 millisecond'
        WHERE d.ctid = ANY (ARRAY(SELECT held.row_id FROM held))
       RETURNING 1`,
    settle: `WITH x AS (
         SELECT i.*, held.row_id FROM jsonb_to_recordset($2::jsonb)
             AS i(event_id uuid, consumer text, attempt int, action text, delay_ms float8, error text)
          CROSS JOIN LATERAL (
            SELECT h.ctid AS row_id FROM ${t.delivery} h
             WHERE h.event_id = i.event_id AND h.consumer_name = i.consumer
               AND h.locked_by = $1 AND h.attempt_count = i.attempt
               FOR UPDATE OF h) held
       )
       UPDATE ${t.delivery} d SET
         status = CASE x.action WHEN 'processed' THEN 'processed'
                                WHEN 'dead-letter' THEN 'dead_letter' ELSE 'pending' END,
         available_at = CASE WHEN x.action = 'retry'
                             THEN now() + least(greatest(coalesce(x.delay_ms, 0), 0), ${MAX_TIMER_DELAY_MS})
                                          * interval '1 millisecond'
                             WHEN x.action = 'release' THEN now()
                             ELSE d.available_at END,
         attempt_count = CASE WHEN x.action = 'release' THEN greatest(d.attempt_count - 1, 0)
                              ELSE d.attempt_count END,
         last_error = CASE WHEN x.action IN ('retry', 'dead-letter') THEN x.error
                           WHEN x.action = 'processed' THEN NULL ELSE d.last_error END,
         processed_at = CASE WHEN x.action = 'processed' THEN now() ELSE NULL END,
         locked_by = NULL, locked_until = NULL, updated_at = now()
       FROM x, ${ASYNC_COMMIT}
       WHERE d.ctid = ANY (ARRAY(SELECT x.row_id FROM x)) AND d.ctid = x.row_id
       RETURNING d.event_id::text AS event_id, d.consumer_name AS consumer`,
    releaseAll: `UPDATE ${t.delivery} SET status = 'pending', attempt_count = greatest(attempt_count - 1, 0),
              available_at = now(), locked_by = NULL, locked_until = NULL, updated_at = now()
        WHERE locked_by = $1 AND status = 'processing'
       RETURNING 1`,
    findByEvents: `SELECT ${DELIVERY_COLUMNS} FROM ${t.delivery} d
        WHERE d.event_id IN (SELECT value::uuid FROM jsonb_array_elements_text($1::jsonb))
        ORDER BY d.position, d.consumer_name`,
    replay: `UPDATE ${t.delivery} d SET status = 'pending', attempt_count = 0, available_at = now(),
              locked_by = NULL, locked_until = NULL, updated_at = now()
        FROM (${deadLetterSelect}) r
        WHERE d.consumer_name = r.consumer_name AND d.event_id = r.event_id AND d.status = 'dead_letter'
       RETURNING d.event_id::text AS event_id, d.consumer_name AS consumer, d.position::text AS position`,
    stats: statsSql(t, ''),
    // The same for one tenant ($1; '' for rows without a tenant).
    tenantStats: statsSql(t, ` AND coalesce(d.tenant_id, '') = $1::text`),
    backlog: backlogSql(t, ''),
    // The same for one tenant ($3; '' for rows without a tenant).
    tenantBacklog: backlogSql(t, ` AND coalesce(d.tenant_id, '') = $3::text`),
    // What a claim could take now, or what is leased: a due delivery behind a blocked one of its
    // key (e.g. a failure waiting for its retry) is not work anyone can do yet.
    busyCount: `SELECT count(*)::int AS n FROM ${t.delivery} d
        WHERE ($1::jsonb IS NULL OR d.consumer_name = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb))))
          AND ((d.status = 'pending' AND d.available_at <= now() AND ${keyNotBlocked})
               OR d.status = 'processing')`,
  } as const;
}

/** A claimed delivery's row: its columns, whether the lease had expired, and its event. */
type ClaimedRow = DeliveryRow & EventRow & { lease_expired: boolean };

function mapClaimed(row: ClaimedRow): ClaimedDelivery {
  return {
    eventId: row.d_event_id,
    consumer: row.d_consumer,
    position: row.d_position,
    orderingKey: row.d_ordering_key,
    attempt: row.d_attempt_count,
    leaseExpired: row.lease_expired,
    lastError: row.d_last_error,
    event: mapEventRow(row),
  };
}

/**
 * All SQL of per-consumer delivery state (`integration_delivery`): claim, lease, settle,
 * release, replay and the counts. Every statement is parameterized and built once per
 * instance from the validated tables; times (availability, leases, backoff) come from the
 * database clock, never the app's.
 */
@Injectable()
export class DeliveryRepository {
  private readonly statements: ReturnType<typeof deliveryStatements>;

  constructor(tables: IntegrationTables) {
    this.statements = deliveryStatements(tables);
  }

  /**
   * Claims up to `batchSize` due deliveries of each of `consumers` (so each consumer's
   * transaction covers as many events as with one consumer), plus up to `batchSize` whose lease
   * expired, for `workerId` with a lease of `leaseMs`, in one statement: pending deliveries that are due and processing ones whose
   * lease expired, locked with `FOR UPDATE SKIP LOCKED` so concurrent claims never take the
   * same delivery. Per (consumer, ordering key), a delivery is only claimed when every earlier
   * unfinished delivery of that consumer and key is claimed with it, so each consumer sees
   * each key in commit order and on one worker at a time; another consumer's deliveries of the
   * same key are independent. A retry (an earlier attempt failed or its lease expired) at the
   * head of its key is claimed alone, and a consumer in `runLimits` takes at most that many
   * deliveries of one key (see `KeyRunLimits`). Tenants take turns (see the statement); with
   * `tenantCursors`, each consumer's scan of tenants goes on where its last one stopped and the
   * cursors are moved. Runs in a transaction of its own, planned without JIT (see
   * PLAN_WITHOUT_JIT). Sorted for running (see `sortClaimed`).
   */
  async claim(
    db: IntegrationDatabaseAdapter,
    workerId: string,
    consumers: readonly string[],
    batchSize: number,
    leaseMs: number,
    runLimits: Readonly<Record<string, number>> = {},
    tenantCursors?: TenantCursors,
  ): Promise<ClaimedDelivery[]> {
    if (consumers.length === 0) return [];
    const params = [
      workerId,
      JSON.stringify(consumers),
      batchSize,
      leaseMs,
      JSON.stringify(runLimits),
      JSON.stringify(tenantCursors?.starts(consumers) ?? {}),
    ];
    const result = await db.transaction(async (_tx, sql) => {
      await sql.query(PLAN_WITHOUT_JIT);
      return sql.query<ClaimedRow & { scan_stop: string | null }>(this.statements.claim, params);
    });
    if (tenantCursors) {
      const stops = new Map(result.rows.map((r) => [r.d_consumer, r.scan_stop]));
      for (const [consumer, stop] of stops) tenantCursors.record(consumer, stop);
    }
    return sortClaimed(result.rows.map(mapClaimed));
  }

  /**
   * Takes one delivery now, whatever its due time, unless it is finished or validly leased:
   * a redelivery by hand (the test kit's `assertHandlerIdempotent`). `undefined` when it cannot.
   */
  async takeOne(
    sql: SqlExecutor,
    workerId: string,
    eventId: string,
    consumer: string,
    leaseMs: number,
  ): Promise<ClaimedDelivery | undefined> {
    const result = await sql.query<ClaimedRow>(this.statements.takeOne, [
      workerId,
      eventId,
      consumer,
      leaseMs,
    ]);
    return result.rows[0] ? mapClaimed(result.rows[0]) : undefined;
  }

  /**
   * Extends the lease of deliveries `workerId` still holds (processing, locked by it); never
   * waits for a row another transaction holds (it is skipped). Returns how many were extended.
   */
  async extendLease(
    sql: SqlExecutor,
    workerId: string,
    deliveries: readonly Pick<ClaimedDelivery, 'eventId' | 'consumer'>[],
    leaseMs: number,
  ): Promise<number> {
    if (deliveries.length === 0) return 0;
    const result = await sql.query(this.statements.extendLease, [
      workerId,
      JSON.stringify(deliveries.map((d) => ({ event_id: d.eventId, consumer: d.consumer }))),
      leaseMs,
    ]);
    return result.rows.length;
  }

  /**
   * Applies settle decisions in one statement. Fenced: a delivery changes only while it is
   * still `processing`, locked by `workerId`, at the instruction's attempt; returns the keys
   * changed (a missing one lost its lease: someone else owns it now). Every decision clears the
   * lease. Errors are truncated and retry delays clamped to `[0, MAX_TIMER_DELAY_MS]`.
   */
  async settle(
    sql: SqlExecutor,
    workerId: string,
    instructions: readonly SettleInstruction[],
  ): Promise<DeliveryKey[]> {
    if (instructions.length === 0) return [];
    const result = await sql.query<{ event_id: string; consumer: string }>(this.statements.settle, [
      workerId,
      JSON.stringify(
        instructions.map((i) => {
          const d = i.decision;
          return {
            event_id: i.eventId,
            consumer: i.consumer,
            attempt: i.attempt,
            action: d.action,
            delay_ms: d.action === 'retry' ? clampDelay(d.delayMs) : null,
            error:
              d.action === 'retry' || d.action === 'dead-letter'
                ? truncateError(String(d.error))
                : null,
          };
        }),
      ),
    ]);
    return result.rows.map((r) => ({ eventId: r.event_id, consumer: r.consumer }));
  }

  /** Puts every delivery `workerId` holds back to pending (attempt not counted); returns how many. */
  async releaseAll(sql: SqlExecutor, workerId: string): Promise<number> {
    const result = await sql.query(this.statements.releaseAll, [workerId]);
    return result.rows.length;
  }

  /** The deliveries of several events (ids already checked), in position then consumer order. */
  async findByEvents(sql: SqlExecutor, eventIds: readonly string[]): Promise<DeliveryRecord[]> {
    if (eventIds.length === 0) return [];
    const result = await sql.query<DeliveryRow>(this.statements.findByEvents, [
      JSON.stringify(eventIds),
    ]);
    return result.rows.map(mapDelivery);
  }

  /**
   * Every consumer's delivery of one event, by position then consumer name.
   * @throws InvalidEventIdError when `eventId` is not a UUID (before any SQL).
   */
  async findByEvent(sql: SqlExecutor, eventId: string): Promise<DeliveryRecord[]> {
    return this.findByEvents(sql, [checkEventId(eventId)]);
  }

  /**
   * Dead-lettered deliveries matching `filter` (see `checkReplayFilter`) back to pending, with
   * attempts reset, oldest position first, at most `filter.limit`. Returns the keys replayed.
   */
  async replay(sql: SqlExecutor, filter: CheckedReplayFilter): Promise<DeliveryKey[]> {
    const result = await sql.query<{ event_id: string; consumer: string; position: string }>(
      this.statements.replay,
      [
        filter.eventId ?? null,
        filter.consumer ?? null,
        filter.eventName ?? null,
        filter.aggregateType ?? null,
        filter.aggregateId ?? null,
        filter.allTenants,
        filter.tenantId ?? null,
        filter.limit,
      ],
    );
    return result.rows.sort(byPosition).map((r) => ({ eventId: r.event_id, consumer: r.consumer }));
  }

  /**
   * Per consumer (registered or with deliveries), by name: counts per status and backlog age;
   * with `tenant`, of that tenant's deliveries only (`null`: those without a tenant).
   */
  async stats(sql: SqlExecutor, tenant?: string | null): Promise<ConsumerDeliveryStats[]> {
    const { rows } = await sql.query<{
      consumer: string;
      pending: number;
      processing: number;
      processed: number;
      dead_letter: number;
      skipped: number;
      oldest_ms: number | null;
    }>(
      tenant === undefined ? this.statements.stats : this.statements.tenantStats,
      tenant === undefined ? [] : [tenant ?? ''],
    );
    return rows.map((r) => ({
      consumer: r.consumer,
      pending: r.pending,
      processing: r.processing,
      processed: r.processed,
      deadLetter: r.dead_letter,
      skipped: r.skipped,
      oldestPendingAgeMs: Math.max(0, Math.round(r.oldest_ms ?? 0)),
    }));
  }

  /**
   * Per active consumer, by name: pending, leased and dead-lettered deliveries (each at most
   * `cap`), how long the longest-waiting due one of its next `lookahead` deliveries has been
   * due, and the age of its oldest lease. See {@link ConsumerBacklog}. With `options.tenant`,
   * only that tenant's deliveries count (`null`: those without a tenant).
   */
  async backlog(
    sql: SqlExecutor,
    options: { cap: number; lookahead: number; tenant?: string | null },
  ): Promise<ConsumerBacklog[]> {
    const { rows } = await sql.query<{
      consumer: string;
      pending: number;
      processing: number;
      dead_letter: number;
      oldest_due_ms: number | null;
      oldest_lease_ms: number | null;
    }>(
      options.tenant === undefined ? this.statements.backlog : this.statements.tenantBacklog,
      options.tenant === undefined
        ? [options.cap, options.lookahead]
        : [options.cap, options.lookahead, options.tenant ?? ''],
    );
    const age = (ms: number | null): number | null => (ms === null ? null : Math.max(0, ms));
    return rows.map((r) => ({
      consumer: r.consumer,
      pending: r.pending,
      processing: r.processing,
      deadLetter: r.dead_letter,
      oldestDueMs: age(r.oldest_due_ms),
      oldestLeaseMs: age(r.oldest_lease_ms),
    }));
  }

  /**
   * Deliveries a claim could take now or that are being processed (by any instance), optionally
   * of some consumers only. A due delivery held back by its key (an earlier one leased, waiting
   * for its retry, or retried) does not count.
   */
  async busyCount(sql: SqlExecutor, consumers?: readonly string[]): Promise<number> {
    const { rows } = await sql.query<{ n: number }>(this.statements.busyCount, [
      consumers === undefined ? null : JSON.stringify(consumers),
    ]);
    return rows[0]?.n ?? 0;
  }
}
