import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { NormalizedEvent } from '../events/event-validation';
import {
  OutboxStatus,
  type IntegrationEvent,
  type OutboxEventRecord,
} from '../events/integration-event';
import { MAX_TIMER_DELAY_MS } from '../utils/retry';
import type { CheckedDeadLetterFilter } from './outbox-query.validation';

/**
 * The event's own columns as selected by {@link EVENT_COLUMNS} (and {@link OUTBOX_COLUMNS}):
 * types every driver returns the same way.
 */
export interface EventRow {
  id: string;
  seq: string;
  event_name: string;
  event_version: number;
  source_module: string | null;
  aggregate_type: string;
  aggregate_id: string;
  ordering_key: string;
  payload: string;
  headers: string;
  tenant_id: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  idempotency_key: string | null;
  created_at: number;
}

/** Columns as selected by {@link OUTBOX_COLUMNS}: types every driver returns the same way. */
interface OutboxRow extends EventRow {
  has_inbox?: boolean;
  status: string;
  attempt_count: number;
  available_at: number;
  locked_by: string | null;
  locked_until: number | null;
  last_error: string | null;
  updated_at: number;
  processed_at: number | null;
}

const ms = (column: string): string =>
  `(extract(epoch from ${column}) * 1000)::float8 AS ${column.replace(/^e\./, '')}`;

/**
 * The columns of the event itself (what {@link IntegrationEvent} holds) of the outbox row
 * aliased `e`, cast like {@link OUTBOX_COLUMNS}; read them with {@link mapEventRow}.
 */
export const EVENT_COLUMNS = [
  'e.id::text AS id',
  'e.seq::text AS seq',
  'e.event_name',
  'e.event_version',
  'e.source_module',
  'e.aggregate_type',
  'e.aggregate_id',
  'e.ordering_key',
  'e.payload::text AS payload',
  'e.headers::text AS headers',
  'e.tenant_id',
  'e.correlation_id',
  'e.causation_id',
  'e.idempotency_key',
  ms('e.created_at'),
].join(', ');

/** Every column, cast so Prisma, Knex and pg return identical JavaScript values. */
export const OUTBOX_COLUMNS = [
  'e.id::text AS id',
  'e.seq::text AS seq',
  'e.event_name',
  'e.event_version',
  'e.source_module',
  'e.aggregate_type',
  'e.aggregate_id',
  'e.ordering_key',
  'e.payload::text AS payload',
  'e.headers::text AS headers',
  'e.tenant_id',
  'e.correlation_id',
  'e.causation_id',
  'e.idempotency_key',
  'e.status',
  'e.attempt_count',
  ms('e.available_at'),
  'e.locked_by',
  ms('e.locked_until'),
  'e.last_error',
  ms('e.created_at'),
  ms('e.updated_at'),
  ms('e.processed_at'),
].join(', ');

const toDate = (v: number | null): Date | null => (v === null ? null : new Date(v));

/** The event of a row selected with {@link EVENT_COLUMNS} (or {@link OUTBOX_COLUMNS}). */
export function mapEventRow(row: EventRow): IntegrationEvent {
  return {
    id: row.id,
    seq: row.seq,
    name: row.event_name,
    version: row.event_version,
    sourceModule: row.source_module,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    orderingKey: row.ordering_key,
    payload: JSON.parse(row.payload) as unknown,
    headers: JSON.parse(row.headers) as Record<string, string>,
    tenantId: row.tenant_id,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    idempotencyKey: row.idempotency_key,
    createdAt: new Date(row.created_at),
  };
}

function mapRow(row: OutboxRow): OutboxEventRecord {
  return {
    ...mapEventRow(row),
    status: row.status as OutboxStatus,
    attemptCount: row.attempt_count,
    availableAt: new Date(row.available_at),
    lockedBy: row.locked_by,
    lockedUntil: toDate(row.locked_until),
    lastError: row.last_error,
    updatedAt: new Date(row.updated_at),
    processedAt: toDate(row.processed_at),
    ...(row.has_inbox === undefined ? {} : { hasInboxRecords: row.has_inbox }),
  };
}

/** An event as {@link OutboxRepository.claim} returns it. */
export interface ClaimedEvent extends OutboxEventRecord {
  /**
   * True when this claim took the event over from an expired lease: the previous attempt was
   * never settled (its worker crashed, stalled or lost the database).
   */
  readonly leaseExpired: boolean;
}

/** An outbox INSERT ready to send, with the records it carries. */
export interface InsertStatement {
  readonly sql: string;
  readonly params: readonly unknown[];
  readonly records: ReadonlyArray<{
    readonly id: string;
    readonly tenant_id: string | null;
    readonly idempotency_key: string | null;
  }>;
}

/** How a claimed event is settled. */
export enum SettleAction {
  Processed = 'processed',
  /** Back to pending after `delayMs`, with `error` recorded. */
  Retry = 'retry',
  DeadLetter = 'dead_letter',
  /** Back to pending at once, the attempt not counted (never started, or shutdown). */
  Release = 'release',
}

/** One settle instruction; `attempt` fences it to the claim that produced it. */
export interface SettleInstruction {
  readonly id: string;
  readonly attempt: number;
  readonly action: SettleAction;
  readonly delayMs?: number;
  readonly error?: string;
}

/**
 * Row `o` is not behind an earlier event of its key that is blocked for sure: leased by someone
 * (lease still valid) or waiting for a retry. Constant SQL, shared by the claim's two scans.
 */
/**
 * A FROM item that makes the statement's own (implicit) transaction commit asynchronously
 * (`synchronous_commit = off` for that transaction only). Used by claim and settle, whose loss
 * in a crash is harmless: a lost claim leaves the events pending; a lost settle leaves them
 * leased, so they are redelivered after the lease and the inbox drops the duplicates. The
 * consumer transactions, which hold the effects, keep the server's setting; their commit also
 * flushes every earlier WAL record, claims included. Saves one WAL flush wait per statement.
 */
const ASYNC_COMMIT = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`;

// Written as a scalar sub-select so PostgreSQL runs it per candidate row on the ordering index
// (stopping at the LIMIT); as a plain NOT EXISTS it may become an anti-join that scans the
// whole table, processed rows included, on every claim.
const keyNotBlockedIn = (outbox: string): string => `NOT (SELECT EXISTS (
              SELECT 1 FROM ${outbox} b
               WHERE b.ordering_key = o.ordering_key AND b.seq < o.seq
                 AND b.status IN ('pending', 'processing')
                 AND ((b.status = 'pending' AND b.available_at > now())
                   OR (b.status = 'processing' AND b.locked_until >= now()))))`;

/** Every statement of {@link OutboxRepository} for one set of tables, built once per instance. */
function outboxStatements(t: IntegrationTables) {
  const keyNotBlocked = keyNotBlockedIn(t.outbox);
  return {
    insert: `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
           ord int, id uuid, event_name text, event_version int, source_module text,
           aggregate_type text, aggregate_id text, ordering_key text, payload text, headers text,
           tenant_id text, correlation_id text, causation_id text, idempotency_key text,
           available_at timestamptz)
       ), ins AS (
         INSERT INTO ${t.outbox} (id, event_name, event_version, source_module, aggregate_type,
           aggregate_id, ordering_key, payload, headers, tenant_id, correlation_id, causation_id,
           idempotency_key, available_at)
         SELECT id, event_name, event_version, source_module, aggregate_type, aggregate_id,
           ordering_key, payload::jsonb, headers::jsonb, tenant_id, correlation_id, causation_id,
           idempotency_key, coalesce(available_at, now())
         FROM input ORDER BY ord
         ON CONFLICT ((coalesce(tenant_id, '')), idempotency_key) WHERE idempotency_key IS NOT NULL
         DO NOTHING
         RETURNING id
       ), notify AS (
         SELECT pg_notify($2::text, '') AS sent WHERE $2::text IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
       )
       SELECT ins.id::text AS id FROM ins LEFT JOIN notify ON true`,
    resolveInsertedIds: `SELECT coalesce(o.tenant_id, '') AS tenant, o.idempotency_key, o.id::text AS id
         FROM ${t.outbox} o
         JOIN jsonb_to_recordset($1::jsonb) AS k(tenant text, idempotency_key text)
           ON coalesce(o.tenant_id, '') = k.tenant AND o.idempotency_key = k.idempotency_key`,
    claim: `WITH due AS (
         SELECT o.id, o.ordering_key, o.seq, false AS lease_expired FROM ${t.outbox} o
          WHERE o.status = 'pending' AND o.available_at <= now()
            -- Skip rows whose key is blocked for sure (an earlier event leased elsewhere or
            -- waiting for a retry) before the LIMIT, so a blocked key cannot starve the others.
            AND ${keyNotBlocked}
          ORDER BY o.seq LIMIT $2
          FOR UPDATE OF o SKIP LOCKED
       ), expired AS (
         SELECT o.id, o.ordering_key, o.seq, true AS lease_expired FROM ${t.outbox} o
          WHERE o.status = 'processing' AND o.locked_until < now()
            AND ${keyNotBlocked}
          ORDER BY o.seq LIMIT $2
          FOR UPDATE OF o SKIP LOCKED
       ), locked AS (
         SELECT * FROM due UNION ALL SELECT * FROM expired
       ), gap AS (
         -- Per key: its first unfinished event that this claim did not lock (if any). Only the
         -- locked events before it may go (earlier ones are delivered first). Read per key on
         -- the ordering index, stopping at that event: linear in the batch, never a scan of
         -- the backlog (an anti-join against all unfinished events is planned as a full scan).
         SELECT k.ordering_key,
                (SELECT p.seq FROM ${t.outbox} p
                  WHERE p.ordering_key = k.ordering_key AND p.status IN ('pending', 'processing')
                    AND p.id NOT IN (SELECT x.id FROM locked x)
                  ORDER BY p.seq LIMIT 1) AS gap_seq
           FROM (SELECT DISTINCT ordering_key FROM locked) k
       ), eligible AS (
         SELECT l.id, l.lease_expired FROM locked l JOIN gap g ON g.ordering_key = l.ordering_key
          WHERE g.gap_seq IS NULL OR l.seq < g.gap_seq
          ORDER BY l.seq LIMIT $2
       )
       UPDATE ${t.outbox} e
          SET status = 'processing', locked_by = $1,
              locked_until = now() + $3::int * interval '1 millisecond',
              attempt_count = e.attempt_count + 1, updated_at = now()
         FROM eligible, ${ASYNC_COMMIT}
        WHERE e.id = eligible.id
       RETURNING ${OUTBOX_COLUMNS}, eligible.lease_expired,
         -- Scalar sub-select: probed per row on the inbox key (never a hash of the whole inbox).
         (SELECT EXISTS (SELECT 1 FROM ${t.inbox} i WHERE i.event_id = e.id::text)) AS has_inbox`,
    extendLease: `UPDATE ${t.outbox} SET locked_until = now() + $3::int * interval '1 millisecond'
        WHERE id IN (SELECT value::uuid FROM jsonb_array_elements_text($2::jsonb))
          AND locked_by = $1 AND status = 'processing'
       RETURNING id::text AS id`,
    settle: `UPDATE ${t.outbox} e SET
         status = CASE x.action WHEN 'processed' THEN 'processed'
                                WHEN 'dead_letter' THEN 'dead_letter' ELSE 'pending' END,
         available_at = CASE WHEN x.action = 'retry'
                             THEN now() + least(greatest(coalesce(x.delay_ms, 0), 0), ${MAX_TIMER_DELAY_MS})
                                          * interval '1 millisecond'
                             WHEN x.action = 'release' THEN now()
                             ELSE e.available_at END,
         attempt_count = CASE WHEN x.action = 'release' THEN greatest(e.attempt_count - 1, 0)
                              ELSE e.attempt_count END,
         last_error = CASE WHEN x.action IN ('retry', 'dead_letter') THEN x.error
                           WHEN x.action = 'processed' THEN NULL ELSE e.last_error END,
         processed_at = CASE WHEN x.action = 'processed' THEN now() ELSE NULL END,
         locked_by = NULL, locked_until = NULL, updated_at = now()
       FROM jsonb_to_recordset($2::jsonb) AS x(id uuid, attempt int, action text, delay_ms float8, error text),
            ${ASYNC_COMMIT}
       WHERE e.id = x.id AND e.locked_by = $1 AND e.attempt_count = x.attempt AND e.status = 'processing'
       RETURNING e.id::text AS id`,
    releaseAll: `UPDATE ${t.outbox} SET status = 'pending', attempt_count = greatest(attempt_count - 1, 0),
              available_at = now(), locked_by = NULL, locked_until = NULL, updated_at = now()
        WHERE locked_by = $1 AND status = 'processing'
       RETURNING id::text AS id`,
    findById: `SELECT ${OUTBOX_COLUMNS} FROM ${t.outbox} e WHERE e.id = $1::uuid`,
    findByAggregate: `SELECT ${OUTBOX_COLUMNS} FROM ${t.outbox} e
        WHERE e.aggregate_type = $1::text AND e.aggregate_id = $2::text
          AND coalesce(e.tenant_id, '') = coalesce($3::text, '')
        ORDER BY e.seq`,
    replay: `UPDATE ${t.outbox} SET status = 'pending', attempt_count = 0, available_at = now(),
              locked_by = NULL, locked_until = NULL, updated_at = now()
        WHERE id = $1::uuid AND status = 'dead_letter'
       RETURNING id::text AS id`,
    replayDeadLetters: `UPDATE ${t.outbox} SET status = 'pending', attempt_count = 0, available_at = now(),
              locked_by = NULL, locked_until = NULL, updated_at = now()
        WHERE id IN (
          SELECT id FROM ${t.outbox}
           WHERE status = 'dead_letter'
             AND ($1::text IS NULL OR event_name = $1::text)
             AND ($2::text IS NULL OR aggregate_type = $2::text)
             AND ($3::text IS NULL OR aggregate_id = $3::text)
             AND ($4::boolean OR coalesce(tenant_id, '') = coalesce($5::text, ''))
           ORDER BY seq
           LIMIT $6::int)
          AND status = 'dead_letter'
       RETURNING id::text AS id`,
    stats: `SELECT status, count(*)::int AS n,
              (extract(epoch from (now() - min(created_at) FILTER (WHERE available_at <= now()))) * 1000)::float8 AS oldest_ms
         FROM ${t.outbox} GROUP BY status`,
    purgeProcessedBatch: `WITH doomed AS (
         SELECT id FROM ${t.outbox}
          WHERE status = 'processed' AND processed_at < now() - $1::bigint * interval '1 millisecond'
          ORDER BY processed_at LIMIT $2::int
          FOR UPDATE SKIP LOCKED
       ), gone AS (
         DELETE FROM ${t.outbox} e USING doomed WHERE e.id = doomed.id RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
    busyCount: `SELECT count(*)::int AS n FROM ${t.outbox}
        WHERE (status = 'pending' AND available_at <= now()) OR status = 'processing'`,
  } as const;
}

/** Counts by status plus the age of the oldest due pending event. */
export interface OutboxStats {
  readonly pending: number;
  readonly processing: number;
  readonly processed: number;
  readonly deadLetter: number;
  /** Age in ms of the oldest pending event that is due; 0 when none. */
  readonly oldestPendingAgeMs: number;
}

/**
 * Filter of `replayDeadLetters`: every given field must match (exact text). Unknown keys are
 * refused with `InvalidQueryError`, so a misspelt key never widens the filter.
 */
export interface DeadLetterFilter {
  readonly eventName?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  /** Only this tenant's events; `null`: only events without a tenant. @default every tenant */
  readonly tenantId?: string | null;
  /** At most this many (oldest first): an integer from 1 to 2147483647. @default all */
  readonly limit?: number;
}

/** Longest `last_error` stored. */
export const MAX_ERROR_LENGTH = 4_000;

/**
 * All SQL of the outbox. Every statement is parameterized; identifiers are constants or the
 * tables of the validated `schema` option, built into the statements once per instance.
 * Times (availability, leases, backoff) come from the database clock, never the app's.
 */
@Injectable()
export class OutboxRepository {
  private readonly statements: ReturnType<typeof outboxStatements>;

  constructor(tables: IntegrationTables) {
    this.statements = outboxStatements(tables);
  }

  /**
   * Inserts events in one statement and, in the same statement, sends a NOTIFY that PostgreSQL
   * delivers only if the caller's transaction commits. Events whose (tenant, idempotency key)
   * already exists are skipped (`ON CONFLICT DO NOTHING` leaves the transaction usable) and the
   * ids of the existing events are returned in their place.
   */
  async insert(
    sql: SqlExecutor,
    events: readonly NormalizedEvent[],
    ids: readonly string[],
    notifyChannel: string | null,
  ): Promise<string[]> {
    const statement = this.insertStatement(events, ids, notifyChannel);
    const inserted = await sql.query<{ id: string }>(statement.sql, statement.params);
    return this.resolveInsertedIds(sql, statement, inserted.rows);
  }

  /** The statement of {@link insert}, for callers that send it themselves (publish and commit). */
  insertStatement(
    events: readonly NormalizedEvent[],
    ids: readonly string[],
    notifyChannel: string | null,
  ): InsertStatement {
    const records = events.map((e, i) => ({
      ord: i,
      id: ids[i]!,
      event_name: e.name,
      event_version: e.version,
      source_module: e.sourceModule,
      aggregate_type: e.aggregateType,
      aggregate_id: e.aggregateId,
      ordering_key: e.orderingKey,
      payload: e.payloadJson,
      headers: e.headersJson,
      tenant_id: e.tenantId,
      correlation_id: e.correlationId,
      causation_id: e.causationId,
      idempotency_key: e.idempotencyKey,
      available_at: e.availableAt?.toISOString() ?? null,
    }));
    // payload/headers travel as JSON text inside the JSON array, parsed once by PostgreSQL.
    return {
      sql: this.statements.insert,
      params: [JSON.stringify(records), notifyChannel],
      records,
    };
  }

  /**
   * The ids of an {@link insertStatement}'s events given the rows it returned: for events
   * skipped on an idempotency key that already existed, the stored event's id (read with `sql`).
   */
  async resolveInsertedIds(
    sql: SqlExecutor,
    statement: InsertStatement,
    inserted: ReadonlyArray<{ id: string }>,
  ): Promise<string[]> {
    const { records } = statement;
    if (inserted.length === records.length) return records.map((r) => r.id);

    // Some keys already existed (or repeat within this batch): return the stored ids instead.
    const insertedIds = new Set(inserted.map((r) => r.id));
    const missing = records.filter((r) => !insertedIds.has(r.id));
    const lookup = await sql.query<{ tenant: string; idempotency_key: string; id: string }>(
      this.statements.resolveInsertedIds,
      [
        JSON.stringify(
          missing.map((r) => ({ tenant: r.tenant_id ?? '', idempotency_key: r.idempotency_key })),
        ),
      ],
    );
    const byKey = new Map(lookup.rows.map((r) => [`${r.tenant}\u0000${r.idempotency_key}`, r.id]));
    return records.map((r) => {
      if (insertedIds.has(r.id)) return r.id;
      const existing = byKey.get(`${r.tenant_id ?? ''}\u0000${r.idempotency_key}`);
      if (!existing)
        throw new Error(`Outbox insert skipped event ${r.id} without an idempotency conflict`);
      return existing;
    });
  }

  /**
   * Claims up to `batchSize` due events for `workerId` with a lease of `leaseMs`:
   * pending rows that are due and processing rows whose lease expired, locked with
   * `FOR UPDATE SKIP LOCKED` so concurrent workers never claim the same row. An event is only
   * claimed when every earlier unfinished event of its ordering key is claimed with it, so
   * each key is delivered in order and by one worker at a time.
   */
  async claim(
    sql: SqlExecutor,
    workerId: string,
    batchSize: number,
    leaseMs: number,
  ): Promise<ClaimedEvent[]> {
    const result = await sql.query<OutboxRow & { lease_expired: boolean }>(this.statements.claim, [
      workerId,
      batchSize,
      leaseMs,
    ]);
    return result.rows
      .map((row) => ({ ...mapRow(row), leaseExpired: row.lease_expired }))
      .sort((a, b) => compareSeq(a.seq, b.seq));
  }

  /** Extends the lease of events this worker still holds; returns the ids extended. */
  async extendLease(
    sql: SqlExecutor,
    workerId: string,
    ids: readonly string[],
    leaseMs: number,
  ): Promise<string[]> {
    if (ids.length === 0) return [];
    const result = await sql.query<{ id: string }>(this.statements.extendLease, [
      workerId,
      JSON.stringify(ids),
      leaseMs,
    ]);
    return result.rows.map((r) => r.id);
  }

  /**
   * Settles claimed events in one statement. Fenced: a row is only changed while it is still
   * `processing`, locked by `workerId`, at the claimed attempt; returns the ids changed (a
   * missing id means the lease was lost and someone else owns the event now).
   *
   * A retry's delay is clamped to `[0, MAX_TIMER_DELAY_MS]` (a missing or non-finite one
   * counts as 0) here and again in the SQL, which computes in `float8`: no delay can make the
   * statement fail.
   */
  async settle(
    sql: SqlExecutor,
    workerId: string,
    instructions: readonly SettleInstruction[],
  ): Promise<string[]> {
    if (instructions.length === 0) return [];
    const result = await sql.query<{ id: string }>(this.statements.settle, [
      workerId,
      JSON.stringify(
        instructions.map((i) => ({
          id: i.id,
          attempt: i.attempt,
          action: i.action,
          delay_ms: clampDelay(i.delayMs),
          error: i.error === undefined || i.error === null ? null : truncateError(String(i.error)),
        })),
      ),
    ]);
    return result.rows.map((r) => r.id);
  }

  /** Puts every event `workerId` holds back to pending (attempt not counted); returns how many. */
  async releaseAll(sql: SqlExecutor, workerId: string): Promise<number> {
    const result = await sql.query<{ id: string }>(this.statements.releaseAll, [workerId]);
    return result.rows.length;
  }

  async findById(sql: SqlExecutor, id: string): Promise<OutboxEventRecord | undefined> {
    const result = await sql.query<OutboxRow>(this.statements.findById, [id]);
    return result.rows[0] ? mapRow(result.rows[0]) : undefined;
  }

  /**
   * Events of one aggregate of one tenant (`null`: events without a tenant) in publish order.
   * The tenant is part of the aggregate's identity, as in the default ordering key.
   */
  async findByAggregate(
    sql: SqlExecutor,
    aggregateType: string,
    aggregateId: string,
    tenantId: string | null,
  ): Promise<OutboxEventRecord[]> {
    const result = await sql.query<OutboxRow>(this.statements.findByAggregate, [
      aggregateType,
      aggregateId,
      tenantId,
    ]);
    return result.rows.map(mapRow);
  }

  /** Dead letter → pending with attempts reset. Returns false when the event is not a dead letter. */
  async replay(sql: SqlExecutor, id: string): Promise<boolean> {
    const result = await sql.query<{ id: string }>(this.statements.replay, [id]);
    return result.rows.length === 1;
  }

  /** Replays the dead letters matching `filter`, oldest first; returns the ids replayed. */
  async replayDeadLetters(sql: SqlExecutor, filter: CheckedDeadLetterFilter): Promise<string[]> {
    const result = await sql.query<{ id: string }>(this.statements.replayDeadLetters, [
      filter.eventName,
      filter.aggregateType,
      filter.aggregateId,
      // undefined: every tenant; null: only events without a tenant.
      filter.tenantId === undefined,
      filter.tenantId ?? null,
      filter.limit,
    ]);
    return result.rows.map((r) => r.id);
  }

  async stats(sql: SqlExecutor): Promise<OutboxStats> {
    const result = await sql.query<{ status: string; n: number; oldest_ms: number | null }>(
      this.statements.stats,
    );
    const count = (s: OutboxStatus): number => result.rows.find((r) => r.status === s)?.n ?? 0;
    const pending = result.rows.find((r) => r.status === OutboxStatus.Pending);
    return {
      pending: count(OutboxStatus.Pending),
      processing: count(OutboxStatus.Processing),
      processed: count(OutboxStatus.Processed),
      deadLetter: count(OutboxStatus.DeadLetter),
      oldestPendingAgeMs: Math.max(0, Math.round(pending?.oldest_ms ?? 0)),
    };
  }

  /** Events due now or being processed (by any instance). */
  async busyCount(sql: SqlExecutor): Promise<number> {
    const { rows } = await sql.query<{ n: number }>(this.statements.busyCount);
    return rows[0]?.n ?? 0;
  }

  /** Deletes up to `batchSize` processed events older than `olderThanMs`; returns how many. */
  async purgeProcessedBatch(
    sql: SqlExecutor,
    olderThanMs: number,
    batchSize: number,
  ): Promise<number> {
    const result = await sql.query<{ n: number }>(this.statements.purgeProcessedBatch, [
      olderThanMs,
      batchSize,
    ]);
    return result.rows[0]?.n ?? 0;
  }
}

/** A retry delay the settle can always apply: an integer in `[0, MAX_TIMER_DELAY_MS]`. */
export function clampDelay(delayMs: number | undefined): number {
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs <= 0) return 0;
  return Math.min(MAX_TIMER_DELAY_MS, Math.round(delayMs));
}

/** Compares decimal sequence strings numerically. */
export function compareSeq(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Keeps stored errors readable and bounded. */
export function truncateError(message: string): string {
  const clean = message.replaceAll('\u0000', '\\0');
  const safe = clean.isWellFormed() ? clean : clean.toWellFormed();
  return safe.length > MAX_ERROR_LENGTH ? `${safe.slice(0, MAX_ERROR_LENGTH - 1)}…` : safe;
}
