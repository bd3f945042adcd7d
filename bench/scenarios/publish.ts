import { createBenchApp, eventFor } from '../lib/integration-app';
import { benchPool, type BenchServer } from '../lib/server';
import { fmt, med, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { percentiles, summarize, type Percentiles, type Summary } from '../lib/stats';
import { WORKLOAD_DDL } from '../lib/workload';
import { closedLoops } from './limit';

/** The transactions compared in scenario 4. */
export type PublishVariant =
  | 'alone'
  | 'publish'
  | 'publishNotifyEach'
  | 'publishMany10'
  | 'publishAndCommit'
  | 'publishManyAndCommit10'
  | 'roundTrip'
  | 'floor1'
  | 'floor10'
  | 'floor1Commit'
  | 'floor10Commit';

/** Every variant, in table order. */
export const PUBLISH_VARIANTS: readonly PublishVariant[] = [
  'alone',
  'publish',
  'publishNotifyEach',
  'publishMany10',
  'publishAndCommit',
  'publishManyAndCommit10',
  'roundTrip',
  'floor1',
  'floor10',
  'floor1Commit',
  'floor10Commit',
];

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
 * Scenario 4: a one-row business transaction alone, with `publish` of one event, with
 * `publishMany` of 10, and with `publishAndCommit` / `publishManyAndCommit` of 1 and 10 (the
 * outbox INSERT pipelined with the COMMIT), plus floors; each a closed loop on `connections`
 * connections. The pool is created with `pipeline: true` for every variant: code that awaits
 * each statement behaves exactly as without it (one statement on the wire at a time), so only
 * the *AndCommit variants, which send two statements at once, use it. The variants run
 * interleaved on one database so that drift (WAL growth, autovacuum) hits them alike.
 */
export async function publishOverhead(
  server: BenchServer,
  connections: number,
  durationMs: number,
): Promise<PublishRun[]> {
  return server.withDatabase(`publish-${connections}`, async (db) => {
    const pool = benchPool(db.url, connections + 1, { pipeline: true });
    const bench = await createBenchApp(pool, { consumers: 0, listen: true });
    // The same publisher sending a NOTIFY on every publish (notify.windowMs 0).
    const notifyEach = await createBenchApp(pool, {
      consumers: 0,
      listen: true,
      notifyWindowMs: 0,
    });
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
        publishNotifyEach: async (client, n) => {
          await client.query('BEGIN');
          const id = await insert(client, n);
          await notifyEach.publisher.publish(client, eventFor(id));
          await client.query('COMMIT');
        },
        // Floors: the cheapest possible extra statement, a bare named INSERT of outbox rows
        // (no validation, no NOTIFY, no idempotency handling): what any outbox must pay.
        floor1: floor(1),
        floor10: floor(10),
        // The floors of the *AndCommit variants: the bare INSERT pipelined with the COMMIT.
        floor1Commit: floor(1, true),
        floor10Commit: floor(10, true),
        publishMany10: async (client, n) => {
          await client.query('BEGIN');
          const id = await insert(client, n);
          await bench.publisher.publishMany(client, tenEvents(id));
          await client.query('COMMIT');
        },
        publishAndCommit: async (client, n) => {
          await client.query('BEGIN');
          const id = await insert(client, n);
          await bench.publisher.publishAndCommit(client, eventFor(id));
        },
        publishManyAndCommit10: async (client, n) => {
          await client.query('BEGIN');
          const id = await insert(client, n);
          await bench.publisher.publishManyAndCommit(client, tenEvents(id));
        },
        // The cheapest extra statement of all: one more round trip that writes nothing.
        roundTrip: async (client, n) => {
          await client.query('BEGIN');
          await insert(client, n);
          await client.query({ name: 'bench_round_trip', text: 'SELECT 1' });
          await client.query('COMMIT');
        },
      };
      const variants = PUBLISH_VARIANTS;
      for (const v of variants) await closedLoops(pool, connections, 500, bodies[v]); // warm-up
      const slice = durationMs / 3;
      const runs = new Map<
        PublishVariant,
        { count: number; seconds: number; latencies: number[] }
      >();
      // Three rounds of every variant, so each sees the same conditions.
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
      await notifyEach.close();
      await pool.end();
    }
  });
}

/** Ten events of order `id` (distinct aggregates). */
function tenEvents(id: number): Array<ReturnType<typeof eventFor>> {
  return Array.from({ length: 10 }, (_, k) => ({ ...eventFor(id), aggregateId: `${id}-${k}` }));
}

/**
 * A business transaction plus a bare multi-row INSERT of `rows` outbox events; `withCommit`
 * sends the INSERT and the COMMIT at once on the pipelined connection.
 */
function floor(
  rows: number,
  withCommit = false,
): (client: import('pg').PoolClient, n: number) => Promise<void> {
  const text = FLOOR_SQL(rows);
  return async (client, n) => {
    await client.query('BEGIN');
    const id = await insert(client, n);
    const statement = { name: `bench_floor${rows}`, text, values: floorValues(id, rows) };
    if (!withCommit) {
      await client.query(statement);
      await client.query('COMMIT');
      return;
    }
    const [inserted, commit] = await Promise.allSettled([
      client.query(statement),
      client.query('COMMIT'),
    ]);
    if (inserted.status === 'rejected') throw inserted.reason;
    if (commit.status === 'rejected') throw commit.reason;
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

/** Scenario 4: what publishing adds to a one-row business transaction, against floors. */
export const publishScenario: Scenario = {
  name: 'publish',
  async run({ server, plan, repeat }) {
    const byConn: Array<{ connections: number; runs: PublishRun[][] }> = [];
    for (const c of [1, 16]) {
      byConn.push({
        connections: c,
        runs: await repeat(plan.repeats, `4 publish overhead, ${c} connection(s)`, () =>
          publishOverhead(server, c, plan.publishMs),
        ),
      });
    }
    const stat = (runs: PublishRun[][], v: PublishVariant, f: (r: PublishRun) => number): Summary =>
      summarize(runs.map((r) => f(r.find((x) => x.variant === v)!)));
    const ratio = (
      runs: PublishRun[][],
      v: PublishVariant,
      f: (r: PublishRun) => number,
    ): Summary =>
      summarize(
        runs.map(
          (r) => f(r.find((x) => x.variant === v)!) / f(r.find((x) => x.variant === 'alone')!),
        ),
      );
    const one = byConn[0]!.runs;
    const sixteen = byConn[1]!.runs;
    const variants = PUBLISH_VARIANTS;
    const labels: Record<PublishVariant, string> = {
      alone: 'transaction alone',
      publish: '+ publish (NOTIFY at most every 2 ms: notify.windowMs default)',
      publishNotifyEach: '+ publish, NOTIFY on every publish (notify.windowMs 0)',
      publishMany10: '+ publishMany(10)',
      publishAndCommit: '+ publishAndCommit (INSERT pipelined with COMMIT)',
      publishManyAndCommit10: '+ publishManyAndCommit(10) (pipelined with COMMIT)',
      roundTrip: 'floor: + one round trip that writes nothing (SELECT 1)',
      floor1: 'floor: + bare INSERT of 1 outbox row',
      floor10: 'floor: + bare INSERT of 10 outbox rows',
      floor1Commit: 'floor: + bare INSERT of 1 outbox row pipelined with COMMIT',
      floor10Commit: 'floor: + bare INSERT of 10 outbox rows pipelined with COMMIT',
    };
    const tables: Table[] = [];
    const checks: TargetCheck[] = [];
    tables.push({
      title: '4. Publish overhead on a one-row business transaction',
      header: [
        'Variant',
        '1 conn: p50 ms',
        'p99 ms',
        'latency ratio (p50)',
        '16 conns: tx/s',
        'throughput ratio',
      ],
      rows: variants.map((v) => [
        labels[v],
        ms(stat(one, v, (r) => r.latency.p50).median),
        ms(stat(one, v, (r) => r.latency.p99).median),
        fmt(ratio(one, v, (r) => r.latency.p50).median, 3),
        med(stat(sixteen, v, (r) => r.txPerSec)),
        fmt(ratio(sixteen, v, (r) => r.txPerSec).median, 3),
      ]),
    });
    // Issue 18: publishing must not serialize the publishers' commits (PostgreSQL's NOTIFY
    // lock does): publish at 16 connections against the bare 1-row INSERT in the same rounds.
    const toFloor = (v: PublishVariant): number =>
      summarize(
        sixteen.map(
          (r) =>
            r.find((x) => x.variant === v)!.txPerSec /
            r.find((x) => x.variant === 'floor1')!.txPerSec,
        ),
      ).median;
    checks.push({
      target: '`publish` at 16 connections ≥ 0.9× the bare 1-row INSERT floor (tx/s)',
      measured: `${fmt(toFloor('publish'), 3)}× (NOTIFY on every publish: ${fmt(toFloor('publishNotifyEach'), 3)}×)`,
      pass: toFloor('publish') >= 0.9,
    });
    const added = (v: PublishVariant): number => ratio(one, v, (r) => r.latency.p50).median;
    const pct = (v: PublishVariant): string => `+${fmt((added(v) - 1) * 100, 1)} %`;
    const roundTrip = `a round trip that writes nothing: ${pct('roundTrip')}`;
    for (const [v, label, limit, floors] of [
      ['publish', '`publish`', 1.15, `${roundTrip}; a bare 1-row INSERT: ${pct('floor1')}`],
      [
        'publishMany10',
        '`publishMany` of 10',
        1.25,
        `${roundTrip}; a bare 10-row INSERT: ${pct('floor10')}`,
      ],
      [
        'publishAndCommit',
        '`publishAndCommit` (pipelined)',
        1.15,
        `a bare 1-row INSERT pipelined with COMMIT: ${pct('floor1Commit')}`,
      ],
      [
        'publishManyAndCommit10',
        '`publishManyAndCommit` of 10 (pipelined)',
        1.25,
        `a bare 10-row INSERT pipelined with COMMIT: ${pct('floor10Commit')}`,
      ],
    ] as const) {
      checks.push({
        target: `${label} adds ≤ ${fmt((limit - 1) * 100)} % latency (1 connection, p50)`,
        measured: `${pct(v)} (floors: ${floors})`,
        pass: added(v) <= limit,
      });
    }
    return { results: { publish: byConn }, tables, checks };
  },
};
