import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';

/** One consumer's settled deliveries in one minute, as this instance counted them. */
export interface ConsumerStatsRow {
  /** The minute, as epoch milliseconds (a multiple of 60,000). */
  readonly bucket: number;
  readonly consumer: string;
  readonly processed: number;
  readonly retried: number;
  readonly deadLettered: number;
  /** Sum and maximum of publish-to-settle latency of the processed deliveries (ms). */
  readonly latencyMsSum: number;
  readonly latencyMsMax: number;
}

/** Writes `integration_consumer_stats`: each instance adds to its own rows. */
@Injectable()
export class ConsumerStatsRepository {
  private readonly upsertStatement: string;

  constructor(tables: IntegrationTables) {
    const t = tables.consumerStats;
    this.upsertStatement = `INSERT INTO ${t} AS s
         (bucket, consumer_name, worker_id, processed, retried, dead_lettered, latency_ms_sum, latency_ms_max)
       SELECT to_timestamp(x.bucket / 1000.0), x.consumer, $1::text, x.processed, x.retried,
              x.dead_lettered, x.latency_sum, x.latency_max
         FROM unnest($2::float8[], $3::text[], $4::int[], $5::int[], $6::int[], $7::float8[], $8::float8[])
           AS x(bucket, consumer, processed, retried, dead_lettered, latency_sum, latency_max)
       ON CONFLICT (bucket, consumer_name, worker_id) DO UPDATE SET
         processed = s.processed + EXCLUDED.processed,
         retried = s.retried + EXCLUDED.retried,
         dead_lettered = s.dead_lettered + EXCLUDED.dead_lettered,
         latency_ms_sum = s.latency_ms_sum + EXCLUDED.latency_ms_sum,
         latency_ms_max = greatest(s.latency_ms_max, EXCLUDED.latency_ms_max)`;
  }

  /**
   * Adds `rows` to this worker's rows, in one statement. At most one row per (bucket,
   * consumer) in `rows` (PostgreSQL refuses to update a row twice in one statement).
   */
  async add(sql: SqlExecutor, workerId: string, rows: readonly ConsumerStatsRow[]): Promise<void> {
    await sql.query(this.upsertStatement, [
      workerId,
      rows.map((r) => r.bucket),
      rows.map((r) => r.consumer),
      rows.map((r) => r.processed),
      rows.map((r) => r.retried),
      rows.map((r) => r.deadLettered),
      rows.map((r) => r.latencyMsSum),
      rows.map((r) => r.latencyMsMax),
    ]);
  }
}
