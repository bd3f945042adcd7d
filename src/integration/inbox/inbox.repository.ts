import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import { truncateError } from '../database/stored-values';
import { InboxStatus, type InboxRecord } from './inbox.types';

interface InboxRow {
  event_id: string;
  consumer_name: string;
  status: string;
  attempt_count: number;
  last_error: string | null;
  payload_hash: string | null;
  processed_at: number | null;
  created_at: number;
  updated_at: number;
}

const COLUMNS = `event_id, consumer_name, status, attempt_count, last_error, payload_hash,
  (extract(epoch from processed_at) * 1000)::float8 AS processed_at,
  (extract(epoch from created_at) * 1000)::float8 AS created_at,
  (extract(epoch from updated_at) * 1000)::float8 AS updated_at`;

function mapRow(r: InboxRow): InboxRecord {
  return {
    eventId: r.event_id,
    consumer: r.consumer_name,
    status: r.status as InboxStatus,
    attemptCount: r.attempt_count,
    lastError: r.last_error,
    payloadHash: r.payload_hash,
    processedAt: r.processed_at === null ? null : new Date(r.processed_at),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
  };
}

/** A failure to record for one (event, consumer). */
export interface InboxFailure {
  readonly eventId: string;
  readonly consumer: string;
  readonly error: string;
  /** The message's tenant, written when the row is new. @default null */
  readonly tenantId?: string | null;
}

/** Every statement of {@link InboxRepository} for one set of tables, built once per instance. */
function inboxStatements(t: IntegrationTables) {
  return {
    claim: `INSERT INTO ${t.inbox} AS inbox_event (event_id, consumer_name, status, attempt_count, payload_hash, processed_at, tenant_id)
       VALUES ($1::text, $2::text, 'processed', 1, $3::text, now(), $4::text)
       ON CONFLICT (event_id, consumer_name) DO UPDATE
         SET status = 'processed', attempt_count = inbox_event.attempt_count + 1,
             payload_hash = coalesce(EXCLUDED.payload_hash, inbox_event.payload_hash),
             last_error = NULL, processed_at = now(), updated_at = now()
         WHERE inbox_event.status = 'failed'
       RETURNING 1 AS claimed`,
    markFailed: `INSERT INTO ${t.inbox} AS inbox_event (event_id, consumer_name, status, attempt_count, last_error, tenant_id)
       SELECT x.event_id, x.consumer, 'failed', 1, x.error, x.tenant_id
         FROM jsonb_to_recordset($1::jsonb) AS x(event_id text, consumer text, error text, tenant_id text)
       ON CONFLICT (event_id, consumer_name) DO UPDATE
         SET attempt_count = inbox_event.attempt_count + 1, last_error = EXCLUDED.last_error,
             updated_at = now()
         WHERE inbox_event.status = 'failed'`,
    markSkipped: `INSERT INTO ${t.inbox} AS inbox_event (event_id, consumer_name, status, attempt_count, last_error, processed_at, tenant_id)
       VALUES ($1::text, $2::text, 'skipped', 0, $3::text, now(), $4::text)
       ON CONFLICT (event_id, consumer_name) DO UPDATE
         SET status = 'skipped', last_error = EXCLUDED.last_error, processed_at = now(), updated_at = now()
         WHERE inbox_event.status <> 'processed'
       RETURNING 1 AS ok`,
    findByEvents: (tenant: string) => `SELECT ${COLUMNS} FROM ${t.inbox}
        WHERE event_id IN (SELECT jsonb_array_elements_text($1::jsonb)) ${tenant}
        ORDER BY event_id, consumer_name`,
    find: (tenant: string) =>
      `SELECT ${COLUMNS} FROM ${t.inbox} WHERE event_id = $1::text AND consumer_name = $2::text ${tenant}`,
  } as const;
}

/**
 * The tenant condition of a finder, its tenant the parameter `$n`: none (`undefined`: every
 * tenant), rows without a tenant (`null`), or one tenant's.
 */
function tenantCondition(tenant: string | null | undefined, n: number): string {
  if (tenant === undefined) return '';
  return tenant === null ? 'AND tenant_id IS NULL' : `AND tenant_id = $${n}::text`;
}

/** All SQL of the inbox. */
@Injectable()
export class InboxRepository {
  private readonly statements: ReturnType<typeof inboxStatements>;

  constructor(tables: IntegrationTables) {
    this.statements = inboxStatements(tables);
  }

  /**
   * Marks (event, consumer) processed inside the caller's transaction, unless it already is
   * (processed or skipped). Returns true when this transaction now owns the mark: run the
   * handlers; their effects commit with it. A concurrent delivery of the same pair waits on the
   * row lock and then sees it processed.
   */
  async claim(
    sql: SqlExecutor,
    eventId: string,
    consumer: string,
    payloadHash: string | null,
    tenantId: string | null = null,
  ): Promise<boolean> {
    const result = await sql.query<{ claimed: number }>(this.statements.claim, [
      eventId,
      consumer,
      payloadHash,
      tenantId,
    ]);
    return result.rows.length === 1;
  }

  /** Records failures (attempts + 1, last error) for pairs not already processed or skipped. */
  async markFailed(sql: SqlExecutor, failures: readonly InboxFailure[]): Promise<void> {
    if (failures.length === 0) return;
    await sql.query(this.statements.markFailed, [
      JSON.stringify(
        failures.map((f) => ({
          event_id: f.eventId,
          consumer: f.consumer,
          error: truncateError(f.error),
          tenant_id: f.tenantId ?? null,
        })),
      ),
    ]);
  }

  /** Marks (event, consumer) skipped unless already processed; returns true when the row is now skipped. */
  async markSkipped(
    sql: SqlExecutor,
    eventId: string,
    consumer: string,
    reason: string | null,
    tenantId: string | null = null,
  ): Promise<boolean> {
    const result = await sql.query<{ ok: number }>(this.statements.markSkipped, [
      eventId,
      consumer,
      reason === null ? null : truncateError(reason),
      tenantId,
    ]);
    return result.rows.length === 1;
  }

  /**
   * Rows of several events (all consumers): of one tenant (`null`: rows without a tenant) or,
   * `undefined`, of every tenant.
   */
  async findByEvents(
    sql: SqlExecutor,
    eventIds: readonly string[],
    tenantId?: string | null,
  ): Promise<InboxRecord[]> {
    if (eventIds.length === 0) return [];
    const result = await sql.query<InboxRow>(
      this.statements.findByEvents(tenantCondition(tenantId, 2)),
      typeof tenantId === 'string'
        ? [JSON.stringify(eventIds), tenantId]
        : [JSON.stringify(eventIds)],
    );
    return result.rows.map(mapRow);
  }

  /** The row of one pair, if any (in `tenantId` when given, as {@link findByEvents}). */
  async find(
    sql: SqlExecutor,
    eventId: string,
    consumer: string,
    tenantId?: string | null,
  ): Promise<InboxRecord | undefined> {
    const result = await sql.query<InboxRow>(
      this.statements.find(tenantCondition(tenantId, 3)),
      typeof tenantId === 'string' ? [eventId, consumer, tenantId] : [eventId, consumer],
    );
    return result.rows[0] ? mapRow(result.rows[0]) : undefined;
  }
}
