import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { OutboxEventRecord } from '../events/integration-event';
import { EVENT_COLUMNS, mapEventRow, type EventRow } from './outbox.repository';

/** What {@link CorrelationRepository.find} matches. */
export interface CorrelationQuery {
  readonly correlationId: string;
  /** Only this tenant's events (`null`: only events without a tenant); `undefined`: every tenant. */
  readonly tenantId: string | null | undefined;
  readonly limit: number;
}

/**
 * The events of one correlation id, read through `outbox_event_correlation_idx`
 * (`correlation_id, created_at`) in publish order: by `created_at`, then `seq`.
 */
@Injectable()
export class CorrelationRepository {
  private readonly statement: string;

  constructor(tables: IntegrationTables) {
    this.statement = `SELECT ${EVENT_COLUMNS},
         (extract(epoch from e.available_at) * 1000)::float8 AS available_at
       FROM ${tables.outbox} e
      WHERE e.correlation_id = $1::text
        AND ($2::boolean OR coalesce(e.tenant_id, '') = coalesce($3::text, ''))
      ORDER BY e.created_at, e.seq
      LIMIT $4::int`;
  }

  async find(sql: SqlExecutor, query: CorrelationQuery): Promise<OutboxEventRecord[]> {
    const result = await sql.query<EventRow & { available_at: number }>(this.statement, [
      query.correlationId,
      query.tenantId === undefined,
      query.tenantId ?? null,
      query.limit,
    ]);
    return result.rows.map((row) => ({
      ...mapEventRow(row),
      availableAt: new Date(row.available_at),
    }));
  }
}
