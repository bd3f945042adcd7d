import type { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { DeliveryStatus } from '../processing/delivery.types';
import { DELIVERY_COLUMNS, mapDelivery, type DeliveryRow } from '../processing/delivery.repository';
import type {
  AdminDeliveryView,
  AdminEventSummary,
  ConsumerThroughputPoint,
  Page,
} from './admin.types';
import {
  encodeCursor,
  type CheckedDeliveryFilter,
  type CheckedEventFilter,
  type CheckedPage,
} from './admin-filter.validation';
import { toPage } from './admin-page';
import {
  SqlParams,
  deliveryConditions,
  epochMs,
  eventConditions,
  needsEvent,
  tenantConditions,
  utcText,
  where,
} from './admin-sql-filter';

/** Most correlated events `getEvent` returns. */
export const MAX_CORRELATED_EVENTS = 100;

/** An event's columns but payload and headers, as {@link SUMMARY_COLUMNS} selects them. */
interface SummaryRow {
  id: string;
  seq: string;
  event_name: string;
  event_version: number;
  source_module: string | null;
  aggregate_type: string;
  aggregate_id: string;
  ordering_key: string;
  tenant_id: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  idempotency_key: string | null;
  created_at: number;
  available_at: number;
}

/** The outbox row aliased `e` as listed: no payload, no headers. */
const SUMMARY_COLUMNS = [
  'e.id::text AS id',
  'e.seq::text AS seq',
  'e.event_name',
  'e.event_version',
  'e.source_module',
  'e.aggregate_type',
  'e.aggregate_id',
  'e.ordering_key',
  'e.tenant_id',
  'e.correlation_id',
  'e.causation_id',
  'e.idempotency_key',
  epochMs('e.created_at', 'created_at'),
  epochMs('e.available_at', 'available_at'),
].join(', ');

function mapSummary(row: SummaryRow): AdminEventSummary {
  return {
    id: row.id,
    seq: row.seq,
    name: row.event_name,
    version: row.event_version,
    sourceModule: row.source_module,
    aggregateType: row.aggregate_type,
    aggregateId: row.aggregate_id,
    orderingKey: row.ordering_key,
    tenantId: row.tenant_id,
    correlationId: row.correlation_id,
    causationId: row.causation_id,
    idempotencyKey: row.idempotency_key,
    createdAt: new Date(row.created_at),
    availableAt: new Date(row.available_at),
  };
}

/** A delivery as listed: its columns, its event's, and its sort key as text. */
interface DeliveryViewRow extends DeliveryRow {
  e_event_name: string;
  e_aggregate_type: string;
  e_aggregate_id: string;
  e_tenant_id: string | null;
  e_correlation_id: string | null;
  e_created_at: number;
  cursor_at: string;
}

const DELIVERY_VIEW_COLUMNS = [
  DELIVERY_COLUMNS,
  'e.event_name AS e_event_name',
  'e.aggregate_type AS e_aggregate_type',
  'e.aggregate_id AS e_aggregate_id',
  'e.tenant_id AS e_tenant_id',
  'e.correlation_id AS e_correlation_id',
  epochMs('e.created_at', 'e_created_at'),
  `${utcText('d.updated_at')} AS cursor_at`,
].join(', ');

/**
 * The admin listings, counts and the correlated events of one event. Newest first, keyset
 * paginated on a unique sort key, so a page never repeats or skips a row when rows are added
 * meanwhile: deliveries by (`updated_at`, event, consumer), events by (`created_at`, `seq`).
 * Statements are assembled per call from constant fragments (see {@link SqlParams}); each
 * filter offered is served by an index of migration 0004 or earlier.
 */
export class AdminQueryRepository {
  constructor(private readonly tables: IntegrationTables) {}

  /** One page of events matching `filter`, newest first. */
  async listEvents(
    sql: SqlExecutor,
    filter: CheckedEventFilter,
    page: CheckedPage,
  ): Promise<Page<AdminEventSummary>> {
    const params = new SqlParams();
    const conditions = eventConditions(filter, params, 'e.created_at');
    if (page.after) {
      const [at, seq] = page.after;
      const atParam = params.add(at, 'timestamptz');
      conditions.push(
        `e.created_at <= ${atParam}`,
        `(e.created_at, e.seq) < (${atParam}, ${params.add(seq, 'bigint')})`,
      );
    }
    const { rows } = await sql.query<SummaryRow & { cursor_at: string }>(
      `SELECT ${SUMMARY_COLUMNS}, ${utcText('e.created_at')} AS cursor_at
         FROM ${this.tables.outbox} e ${where(conditions)}
        ORDER BY e.created_at DESC, e.seq DESC
        LIMIT ${params.add(page.limit + 1, 'int')}`,
      params.values,
    );
    return toPage(rows, page.limit, mapSummary, (r) =>
      encodeCursor('events', [r.cursor_at, r.seq]),
    );
  }

  /** How many events match `filter` (every matching row is counted). */
  async countEvents(sql: SqlExecutor, filter: CheckedEventFilter): Promise<number> {
    const params = new SqlParams();
    const conditions = eventConditions(filter, params, 'e.created_at');
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::float8 AS n FROM ${this.tables.outbox} e ${where(conditions)}`,
      params.values,
    );
    return rows[0]?.n ?? 0;
  }

  /** One page of deliveries matching `filter`, with their events' fields, newest first. */
  async listDeliveries(
    sql: SqlExecutor,
    filter: CheckedDeliveryFilter,
    page: CheckedPage,
  ): Promise<Page<AdminDeliveryView>> {
    const params = new SqlParams();
    const conditions = deliveryConditions(filter, params);
    if (page.after) {
      const [at, eventId, consumer] = page.after;
      const atParam = params.add(at, 'timestamptz');
      conditions.push(
        `d.updated_at <= ${atParam}`,
        `(d.updated_at, d.event_id, d.consumer_name) < (${atParam}, ${params.add(eventId, 'uuid')}, ${params.add(consumer, 'text')})`,
      );
    }
    const { rows } = await sql.query<DeliveryViewRow>(
      `SELECT ${DELIVERY_VIEW_COLUMNS}
         FROM ${this.tables.delivery} d JOIN ${this.tables.outbox} e ON e.id = d.event_id
        ${where(conditions)}
        ORDER BY d.updated_at DESC, d.event_id DESC, d.consumer_name DESC
        LIMIT ${params.add(page.limit + 1, 'int')}`,
      params.values,
    );
    return toPage(
      rows,
      page.limit,
      (r) => ({
        ...mapDelivery(r),
        eventName: r.e_event_name,
        aggregateType: r.e_aggregate_type,
        aggregateId: r.e_aggregate_id,
        tenantId: r.e_tenant_id,
        correlationId: r.e_correlation_id,
        eventCreatedAt: new Date(r.e_created_at),
      }),
      (r) => encodeCursor('deliveries', [r.cursor_at, r.d_event_id, r.d_consumer]),
    );
  }

  /** How many deliveries match `filter` (every matching row is counted). */
  async countDeliveries(sql: SqlExecutor, filter: CheckedDeliveryFilter): Promise<number> {
    const params = new SqlParams();
    const conditions = deliveryConditions(filter, params);
    const join = needsEvent(filter) ? `JOIN ${this.tables.outbox} e ON e.id = d.event_id` : '';
    const { rows } = await sql.query<{ n: number }>(
      `SELECT count(*)::float8 AS n FROM ${this.tables.delivery} d ${join} ${where(conditions)}`,
      params.values,
    );
    return rows[0]?.n ?? 0;
  }

  /**
   * The events correlated with one event: those with its correlation id, and those whose
   * correlation id is its id (what it caused); itself excluded, oldest first, at most
   * {@link MAX_CORRELATED_EVENTS}; only those of `tenantId` when given. Each half reads the
   * correlation index.
   */
  async correlated(
    sql: SqlExecutor,
    eventId: string,
    correlationId: string | null,
    tenantId?: string | null,
  ): Promise<AdminEventSummary[]> {
    const cap = MAX_CORRELATED_EVENTS + 1;
    const params = new SqlParams();
    const id = params.add(eventId, 'text');
    const correlation = params.add(correlationId, 'text');
    const tenant = tenantConditions('e.tenant_id', tenantId, params);
    const half = (match: string): string =>
      `(SELECT ${SUMMARY_COLUMNS} FROM ${this.tables.outbox} e
         ${where([`e.correlation_id = ${match}`, ...tenant])} ORDER BY e.created_at, e.seq LIMIT ${cap})`;
    const { rows } = await sql.query<SummaryRow>(
      `SELECT c.* FROM (${half(id)} UNION ${half(correlation)}) c
        WHERE c.id <> ${id}
        ORDER BY c.created_at, c.seq::bigint
        LIMIT ${MAX_CORRELATED_EVENTS}`,
      params.values,
    );
    return rows.map(mapSummary);
  }

  /** The statuses of one event's deliveries per consumer (to explain a refused action). */
  async deliveryStatus(
    sql: SqlExecutor,
    eventId: string,
  ): Promise<ReadonlyMap<string, DeliveryStatus>> {
    const { rows } = await sql.query<{ consumer: string; status: DeliveryStatus }>(
      `SELECT consumer_name AS consumer, status FROM ${this.tables.delivery} WHERE event_id = $1::uuid`,
      [eventId],
    );
    return new Map(rows.map((r) => [r.consumer, r.status]));
  }

  /**
   * Deliveries settled per consumer and minute over the last `minutes` minutes (the current one
   * included), every instance's rows summed; by consumer, then minute. Reads the stats table's
   * primary key (bucket first).
   */
  async throughput(sql: SqlExecutor, minutes: number): Promise<ConsumerThroughputPoint[]> {
    const { rows } = await sql.query<{
      consumer: string;
      at: number;
      processed: number;
      retried: number;
      dead_lettered: number;
      latency_sum: number;
      latency_max: number;
    }>(
      `SELECT s.consumer_name AS consumer, (extract(epoch from s.bucket) * 1000)::float8 AS at,
              sum(s.processed)::float8 AS processed, sum(s.retried)::float8 AS retried,
              sum(s.dead_lettered)::float8 AS dead_lettered,
              sum(s.latency_ms_sum)::float8 AS latency_sum, max(s.latency_ms_max)::float8 AS latency_max
         FROM ${this.tables.consumerStats} s
        WHERE s.bucket >= date_trunc('minute', now()) - ($1::int - 1) * interval '1 minute'
        GROUP BY s.consumer_name, s.bucket
        ORDER BY s.consumer_name, s.bucket`,
      [minutes],
    );
    return rows.map((r) => ({
      consumer: r.consumer,
      at: new Date(r.at),
      processed: r.processed,
      retried: r.retried,
      deadLettered: r.dead_lettered,
      meanLatencyMs: r.processed > 0 ? r.latency_sum / r.processed : null,
      maxLatencyMs: r.processed > 0 ? r.latency_max : null,
    }));
  }
}
