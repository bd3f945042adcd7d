import { createBenchApp, eventFor } from '../lib/integration-app';
import { benchPool, type BenchServer } from '../lib/server';
import { percentiles, type Percentiles } from '../lib/stats';
import { WORKLOAD_DDL } from '../lib/workload';
import { closedLoops } from './limit';

/** The three transactions compared in scenario 4. */
export type PublishVariant = 'alone' | 'publish' | 'publishMany10' | 'floor1' | 'floor10';

/** Scenario 4 figures of one run: one variant at one connection count. */
export interface PublishRun {
  readonly variant: PublishVariant;
  readonly connections: number;
  readonly txPerSec: number;
  readonly latency: Percentiles;
  /** Mean transaction latency, ms. */
  readonly meanMs: number;
}

/**
 * Scenario 4: a one-row business transaction alone, with `publish` of one event, and with
 * `publishMany` of 10, each a closed loop on `connections` connections. The three variants run
 * interleaved on one database so that drift (WAL growth, autovacuum) hits them alike.
 */
export async function publishOverhead(
  server: BenchServer,
  connections: number,
  durationMs: number,
): Promise<PublishRun[]> {
  return server.withDatabase(`publish-${connections}`, async (db) => {
    const pool = benchPool(db.url, connections + 1);
    const bench = await createBenchApp(pool, { consumers: 0, listen: true });
    try {
      await pool.query(WORKLOAD_DDL);
      const bodies: Record<
        PublishVariant,
        (c: import('pg').PoolClient, n: number) => Promise<void>
      > = {
        alone: async (client, n) => {
          await client.query('BEGIN');
          await insert(client, n);
          await client.query('COMMIT');
        },
        publish: async (client, n) => {
          await client.query('BEGIN');
          const id = await insert(client, n);
          await bench.publisher.publish(client, eventFor(id));
          await client.query('COMMIT');
        },
        // Floors: the cheapest possible extra statement, a bare named INSERT of outbox rows
        // (no validation, no NOTIFY, no idempotency handling): what any outbox must pay.
        floor1: floor(1),
        floor10: floor(10),
        publishMany10: async (client, n) => {
          await client.query('BEGIN');
          const id = await insert(client, n);
          await bench.publisher.publishMany(
            client,
            Array.from({ length: 10 }, (_, k) => ({ ...eventFor(id), aggregateId: `${id}-${k}` })),
          );
          await client.query('COMMIT');
        },
      };
      const variants: PublishVariant[] = ['alone', 'publish', 'publishMany10', 'floor1', 'floor10'];
      for (const v of variants) await closedLoops(pool, connections, 500, bodies[v]); // warm-up
      const slice = durationMs / 3;
      const runs = new Map<
        PublishVariant,
        { count: number; seconds: number; latencies: number[] }
      >();
      // Three rounds of the three variants, so each sees the same conditions.
      for (let round = 0; round < 3; round++) {
        for (const v of variants) {
          const r = await closedLoops(pool, connections, slice / 3, bodies[v]);
          const acc = runs.get(v) ?? { count: 0, seconds: 0, latencies: [] };
          acc.count += r.count;
          acc.seconds += r.seconds;
          acc.latencies.push(...r.latencies);
          runs.set(v, acc);
        }
      }
      return variants.map((v) => {
        const r = runs.get(v)!;
        return {
          variant: v,
          connections,
          txPerSec: r.count / r.seconds,
          latency: percentiles(r.latencies),
          meanMs: r.latencies.reduce((a, b) => a + b, 0) / r.latencies.length,
        };
      });
    } finally {
      await bench.close();
      await pool.end();
    }
  });
}

/** A business transaction plus a bare multi-row INSERT of `rows` outbox events. */
function floor(rows: number): (client: import('pg').PoolClient, n: number) => Promise<void> {
  const text = FLOOR_SQL(rows);
  return async (client, n) => {
    await client.query('BEGIN');
    const id = await insert(client, n);
    await client.query({ name: `bench_floor${rows}`, text, values: floorValues(id, rows) });
    await client.query('COMMIT');
  };
}

/** A multi-row INSERT of `rows` outbox events with 3 parameters each. */
function FLOOR_SQL(rows: number): string {
  const values = Array.from(
    { length: rows },
    (_, i) =>
      `(gen_random_uuid(), 'order.placed', 'order', $${i * 3 + 1}::text, $${i * 3 + 2}::text, $${i * 3 + 3}::jsonb)`,
  );
  return `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload) VALUES ${values.join(', ')}`;
}

function floorValues(orderId: number, rows: number): string[] {
  return Array.from({ length: rows }, (_, k) => {
    const e = eventFor(orderId);
    return [`${orderId}-${k}`, `order:${orderId}-${k}`, JSON.stringify(e.payload)];
  }).flat();
}

async function insert(client: import('pg').PoolClient, n: number): Promise<number> {
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO bench_order (customer, amount) VALUES ($1, $2) RETURNING id',
    [`customer-${n % 1000}`, (n % 97) + 1],
  );
  return Number(rows[0]!.id);
}
