import { Injectable, Optional } from '@nestjs/common';
import { IntegrationContext } from '../context/integration-context';
import { TenantSession } from '../database/tenant-session';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { NormalizedEvent } from '../events/event-validation';
import type { IntegrationEvent, OutboxEventRecord } from '../events/integration-event';

/** The event's own columns as selected by {@link EVENT_COLUMNS}: types every driver returns the same way. */
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

/** An outbox row as read by the finders: the event plus when it may be delivered. */
interface OutboxRow extends EventRow {
  available_at: number;
}

const ms = (column: string): string =>
  `(extract(epoch from ${column}) * 1000)::float8 AS ${column.replace(/^e\./, '')}`;

/**
 * The columns of the event itself (what {@link IntegrationEvent} holds) of the outbox row
 * aliased `e`, cast so Prisma, Knex and pg return identical JavaScript values; read them with {@link mapEventRow}.
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

/** Every column the finders read: the event and its `available_at`. */
const OUTBOX_COLUMNS = `${EVENT_COLUMNS}, ${ms('e.available_at')}`;

/** The event of a row selected with {@link EVENT_COLUMNS}. */
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
  return { ...mapEventRow(row), availableAt: new Date(row.available_at) };
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

/** A publish's row as the INSERT statements take it (see {@link OutboxRepository.insertStatement}). */
interface InsertRecord {
  readonly ord: number;
  readonly id: string;
  readonly event_name: string;
  readonly event_version: number;
  readonly source_module: string | null;
  readonly aggregate_type: string;
  readonly aggregate_id: string;
  readonly ordering_key: string;
  readonly payload: string;
  readonly headers: string;
  readonly tenant_id: string | null;
  readonly correlation_id: string | null;
  readonly causation_id: string | null;
  readonly idempotency_key: string | null;
  readonly available_at: string | null;
}

/** The columns a publish writes, with their types: the one-event statement's parameters, in order. */
const INSERTED: ReadonlyArray<readonly [Exclude<keyof InsertRecord, 'ord'>, string]> = [
  ['id', 'uuid'],
  ['event_name', 'text'],
  ['event_version', 'int'],
  ['source_module', 'text'],
  ['aggregate_type', 'text'],
  ['aggregate_id', 'text'],
  ['ordering_key', 'text'],
  ['payload', 'jsonb'],
  ['headers', 'jsonb'],
  ['tenant_id', 'text'],
  ['correlation_id', 'text'],
  ['causation_id', 'text'],
  ['idempotency_key', 'text'],
  ['available_at', 'timestamptz'],
];
const INSERT_COLUMNS = INSERTED.map(([column]) => column).join(', ');
/** The one-event statement's VALUES: parameter i + 1 per column; no available_at: now. */
const ONE_EVENT_VALUES = INSERTED.map(([column, type], i) =>
  column === 'available_at' ? `coalesce($${i + 1}::${type}, now())` : `$${i + 1}::${type}`,
).join(', ');

/** An event whose idempotency key is stored already is skipped (its id is looked up after). */
const ON_IDEMPOTENCY_CONFLICT = `ON CONFLICT ((coalesce(tenant_id, '')), idempotency_key) WHERE idempotency_key IS NOT NULL
         DO NOTHING
         RETURNING id`;

/**
 * After the `ins` CTE: a NOTIFY on channel parameter `channel` (null: none) when a row was
 * inserted, and the inserted ids.
 */
const notifyAndReturn = (channel: string): string => `, notify AS (
         SELECT pg_notify(${channel}::text, '') AS sent WHERE ${channel}::text IS NOT NULL AND EXISTS (SELECT 1 FROM ins)
       )
       SELECT ins.id::text AS id FROM ins LEFT JOIN notify ON true`;

/** Every statement of {@link OutboxRepository} for one set of tables, built once per instance. */
function outboxStatements(t: IntegrationTables) {
  return {
    // Many events: one JSON array parameter, parsed once by PostgreSQL.
    insert: `WITH input AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(
           ord int, id uuid, event_name text, event_version int, source_module text,
           aggregate_type text, aggregate_id text, ordering_key text, payload text, headers text,
           tenant_id text, correlation_id text, causation_id text, idempotency_key text,
           available_at timestamptz)
       ), ins AS (
         INSERT INTO ${t.outbox} (${INSERT_COLUMNS})
         SELECT id, event_name, event_version, source_module, aggregate_type, aggregate_id,
           ordering_key, payload::jsonb, headers::jsonb, tenant_id, correlation_id, causation_id,
           idempotency_key, coalesce(available_at, now())
         FROM input ORDER BY ord
         ${ON_IDEMPOTENCY_CONFLICT}
       )${notifyAndReturn('$2')}`,
    // One event (most publishes): a parameter per column, in INSERTED order. No JSON array to
    // build and parse, no set to materialize: `publish` at 16 connections does about 7 % more
    // transactions per second than with the JSON form (docs/performance.md, scenario 4).
    insertOne: `WITH ins AS (
         INSERT INTO ${t.outbox} (${INSERT_COLUMNS}) VALUES (${ONE_EVENT_VALUES})
         ${ON_IDEMPOTENCY_CONFLICT}
       )${notifyAndReturn(`$${INSERTED.length + 1}`)}`,
    resolveInsertedIds: `SELECT coalesce(o.tenant_id, '') AS tenant, o.idempotency_key, o.id::text AS id
         FROM ${t.outbox} o
         JOIN jsonb_to_recordset($1::jsonb) AS k(tenant text, idempotency_key text)
           ON coalesce(o.tenant_id, '') = k.tenant AND o.idempotency_key = k.idempotency_key`,
    findById: `SELECT ${OUTBOX_COLUMNS} FROM ${t.outbox} e WHERE e.id = $1::uuid`,
    findByAggregate: `SELECT ${OUTBOX_COLUMNS} FROM ${t.outbox} e
        WHERE e.aggregate_type = $1::text AND e.aggregate_id = $2::text
          AND coalesce(e.tenant_id, '') = coalesce($3::text, '')
        ORDER BY e.seq`,
    purgeFinishedBatch: purgeFinished(t, ''),
    // The same, limited to one tenant ($3; null: events without a tenant).
    purgeFinishedBatchOfTenant: purgeFinished(
      t,
      "AND coalesce(e.tenant_id, '') = coalesce($3::text, '')",
    ),
  } as const;
}

/**
 * Finished events: old enough, seen by the sequencer (their transaction is inside its horizon),
 * and no delivery of theirs still pending, leased or dead-lettered. Their deliveries go with
 * them, in the same statement.
 */
function purgeFinished(t: IntegrationTables, tenantCondition: string): string {
  return `WITH horizon AS (SELECT horizon FROM ${t.sequencer} WHERE id = 1),
       doomed AS (
         SELECT e.id FROM ${t.outbox} e, horizon h
          WHERE e.created_at < now() - $1::bigint * interval '1 millisecond' ${tenantCondition}
            AND pg_visible_in_snapshot(e.tx_id, h.horizon)
            AND NOT EXISTS (SELECT 1 FROM ${t.delivery} d
                             WHERE d.event_id = e.id AND d.status IN ('pending', 'processing', 'dead_letter'))
          ORDER BY e.created_at LIMIT $2::int
          FOR UPDATE OF e SKIP LOCKED
       ), gone_deliveries AS (
         DELETE FROM ${t.delivery} d USING doomed WHERE d.event_id = doomed.id RETURNING 1
       ), gone AS (
         DELETE FROM ${t.outbox} e USING doomed WHERE e.id = doomed.id RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`;
}

/**
 * The outbox log's SQL: inserting events in the caller's transaction and reading them back.
 * Every statement is parameterized; identifiers are constants or the tables of the validated
 * `schema` option, built into the statements once per instance. Delivery state lives in
 * `integration_delivery` (`DeliveryRepository`): nothing here changes a stored event.
 */
@Injectable()
export class OutboxRepository {
  private readonly statements: ReturnType<typeof outboxStatements>;

  constructor(
    tables: IntegrationTables,
    @Optional() private readonly session?: TenantSession,
    @Optional() private readonly context?: IntegrationContext,
  ) {
    this.statements = outboxStatements(tables);
  }

  /**
   * Inserts events in one statement and, in the same statement, sends a NOTIFY that PostgreSQL
   * delivers only if the caller's transaction commits. Events whose (tenant, idempotency key)
   * already exists are skipped (`ON CONFLICT DO NOTHING` leaves the transaction usable) and the
   * ids of the existing events are returned in their place. With the `rowLevelSecurity` option
   * on and a tenant in the `IntegrationContext`, the transaction's tenant setting is set first
   * (so the policies check every row against the caller's tenant, not the events' own).
   */
  async insert(
    sql: SqlExecutor,
    events: readonly NormalizedEvent[],
    ids: readonly string[],
    notifyChannel: string | null,
  ): Promise<string[]> {
    await this.enterTenant(sql);
    const statement = this.insertStatement(events, ids, notifyChannel);
    const inserted = await sql.query<{ id: string }>(statement.sql, statement.params);
    return this.resolveInsertedIds(sql, statement, inserted.rows);
  }

  /**
   * With the `rowLevelSecurity` option on and a tenant in the `IntegrationContext`: sets the
   * tenant of the caller's transaction `sql` for the row-level-security policies (one
   * `set_config`); otherwise nothing. {@link insert} calls it; a caller that sends
   * {@link insertStatement} itself calls it first.
   */
  async enterTenant(sql: SqlExecutor): Promise<void> {
    await this.session?.enter(sql, this.context?.current().tenantId);
  }

  /**
   * The executor that reads committed rows of the context's tenant: with the
   * `rowLevelSecurity` option on, each statement runs with that tenant set (the policies hide
   * every row otherwise); else `root`.
   */
  committedReader(root: SqlExecutor): SqlExecutor {
    return this.session?.enabled ? this.session.executor(this.context?.current().tenantId) : root;
  }

  /** The statement of {@link insert}, for callers that send it themselves (publish and commit). */
  insertStatement(
    events: readonly NormalizedEvent[],
    ids: readonly string[],
    notifyChannel: string | null,
  ): InsertStatement {
    const records = events.map((e, i): InsertRecord => ({
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
    if (records.length === 1) {
      const record = records[0]!;
      return {
        sql: this.statements.insertOne,
        params: [...INSERTED.map(([column]) => record[column]), notifyChannel],
        records,
      };
    }
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

  /**
   * Deletes up to `batchSize` finished events older than `olderThanMs` with their deliveries;
   * returns how many events. Finished: every delivery processed or skipped (or none at all),
   * and the sequencer has seen the event. `tenantId`: only that tenant's events (`null`: those
   * without a tenant); absent: every tenant's.
   */
  async purgeFinishedBatch(
    sql: SqlExecutor,
    olderThanMs: number,
    batchSize: number,
    tenantId?: string | null,
  ): Promise<number> {
    const result =
      tenantId === undefined
        ? await sql.query<{ n: number }>(this.statements.purgeFinishedBatch, [
            olderThanMs,
            batchSize,
          ])
        : await sql.query<{ n: number }>(this.statements.purgeFinishedBatchOfTenant, [
            olderThanMs,
            batchSize,
            tenantId,
          ]);
    return result.rows[0]?.n ?? 0;
  }
}
