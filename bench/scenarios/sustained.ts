/**
 * Scenario 10 (issue 18, target 6): sustained load in the manner of Namastack's published run
 * (several instances, per-key order, a steady publish rate for two minutes). `instances`
 * processor processes at the library defaults (LISTEN on) handle events published at a steady
 * rate; the rate steps up run by run. Each business transaction updates its key's row
 * (`UPDATE bench_key … RETURNING n`), which locks it until commit: per key, the commit order is
 * the order of `n`, so the order the handlers saw can be checked against it. Every event must
 * leave exactly one projection row (none lost), and each key's events must be handled in
 * commit order.
 */
import type { PoolClient } from 'pg';
import { createBenchApp } from '../lib/integration-app';
import { fmt, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { benchPool, type BenchServer } from '../lib/server';
import { nowMs, percentiles, sleep, type Percentiles } from '../lib/stats';
import {
  EVENT_NAME,
  latencyFigures,
  payloadFor,
  publishAtRate,
  WORKLOAD_DDL,
} from '../lib/workload';
import { startRecordingProcessors } from '../subjects/nestjs-integration';

/** Ordering keys the events are spread over (the aggregates of the business transactions). */
const KEYS = 1_000;
/** The order id of event `n` of key `key` (payload and projection row carry it). */
const ORDER_ID_PER_KEY = 10_000_000;
/** Publishing connections: enough for the highest rate's commits in flight. */
const PUBLISH_CONNECTIONS = 32;
/** After publishing stops, how long the handlers may take to catch up for the rate to count as sustained. */
const CATCH_UP_MS = 5_000;
/** A run sustains its rate when it published at least this share of it. */
const SUSTAINED_SHARE = 0.95;
/** Namastack's published p50 / p95 / p99 commit → handler commit (about 10,000 records/s, M2 Pro). */
const NAMASTACK_MS = { p50: 80, p95: 250, p99: 350 } as const;

/** One run of scenario 10. */
export interface SustainedRun {
  readonly instances: number;
  readonly targetRate: number;
  /** Business transactions per second committed while measuring. */
  readonly achievedRate: number;
  readonly seconds: number;
  /** Every committed event, warm-up included. */
  readonly published: number;
  /** Events with their projection row after the run. */
  readonly handled: number;
  /** Published events without a projection row. */
  readonly lost: number;
  /** Handler starts beyond one per event (redeliveries; their effects are not repeated). */
  readonly redelivered: number;
  /** Events a handler started before an event of the same key that committed earlier. */
  readonly outOfOrder: number;
  /** All handled within {@link CATCH_UP_MS} of the last publish. */
  readonly caughtUp: boolean;
  /** Publishing COMMIT returned → handler's transaction committed, ms. */
  readonly toCommit: Percentiles;
  readonly toStart: Percentiles;
}

/** Handler starts of one key out of commit order: each start of an `n` lower than one seen before it. */
function outOfOrderStarts(starts: ReadonlyArray<readonly [n: number, at: number]>): number {
  let highest = -Infinity;
  let late = 0;
  for (const [n] of [...starts].sort((a, b) => a[1] - b[1])) {
    if (n < highest) late++;
    else highest = n;
  }
  return late;
}

/** One run: `instances` processors, events published at `rate` per second for `durationMs`. */
export async function sustainedLoad(
  server: BenchServer,
  options: { instances: number; rate: number; durationMs: number },
): Promise<SustainedRun> {
  return server.withDatabase(`sustained-${options.rate}`, async (db) => {
    const pool = benchPool(db.url, PUBLISH_CONNECTIONS);
    const publisherApp = await createBenchApp(pool, { consumers: 0, listen: true });
    try {
      await pool.query(WORKLOAD_DDL);
      await pool.query(`CREATE TABLE bench_key (key int PRIMARY KEY, n int NOT NULL DEFAULT 0);
        INSERT INTO bench_key (key) SELECT generate_series(0, ${KEYS - 1})`);
      const workers = await startRecordingProcessors(db, options.instances);
      workers.forEach((w) => w.go());
      /** Event id → [key, n]: per key, commit order is the order of n. */
      const keyed = new Map<string, readonly [number, number]>();
      const published = await publishAtRate(
        pool,
        options.rate,
        options.durationMs,
        async (client: PoolClient, i) => {
          const key = i % KEYS;
          const { rows } = await client.query<{ n: number }>(
            'UPDATE bench_key SET n = n + 1 WHERE key = $1 RETURNING n',
            [key],
          );
          const n = rows[0]!.n;
          const id = (await publisherApp.publisher.publish(client, {
            name: EVENT_NAME,
            aggregateType: 'customer',
            aggregateId: String(key),
            payload: payloadFor(key * ORDER_ID_PER_KEY + n),
          }))!;
          keyed.set(id, [key, n]);
          return id;
        },
      );
      const handled = (): number =>
        workers.reduce((s, w) => s + (w.samples.at(-1)?.handled ?? 0), 0);
      const caughtUpBy = nowMs() + CATCH_UP_MS;
      const deadline = nowMs() + 60_000;
      while (handled() < published.total && nowMs() < deadline) await sleep(50);
      const caughtUp = nowMs() <= caughtUpBy;
      workers.forEach((w) => w.stop());
      const results = await Promise.all(workers.map((w) => w.result));
      const observed = results.flatMap((r) => r.observed);
      const { rows } = await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM bench_projection',
      );
      // The last start of each event: the attempt whose transaction committed.
      const lastStart = new Map<string, number>();
      for (const [id, startAt] of observed)
        lastStart.set(id, Math.max(startAt, lastStart.get(id) ?? -Infinity));
      const byKey = new Map<number, Array<[number, number]>>();
      for (const [id, startAt] of lastStart) {
        const k = keyed.get(id);
        if (!k) continue; // a transaction whose COMMIT outcome the publisher did not see
        const starts = byKey.get(k[0]) ?? [];
        starts.push([k[1], startAt]);
        byKey.set(k[0], starts);
      }
      let outOfOrder = 0;
      for (const starts of byKey.values()) outOfOrder += outOfOrderStarts(starts);
      const figures = latencyFigures(options.rate, published, observed, percentiles);
      return {
        instances: options.instances,
        targetRate: options.rate,
        achievedRate: figures.achievedRate,
        seconds: figures.seconds,
        published: published.total,
        handled: rows[0]!.n,
        lost: Math.max(0, published.total - rows[0]!.n),
        redelivered: observed.length - new Set(observed.map(([id]) => id)).size,
        outOfOrder,
        caughtUp,
        toCommit: figures.toCommit,
        toStart: figures.toStart,
      };
    } finally {
      await publisherApp.close();
      await pool.end();
    }
  });
}

/** The run sustained its rate: published it, handled everything and caught up. */
function sustained(run: SustainedRun): boolean {
  return (
    run.achievedRate >= SUSTAINED_SHARE * run.targetRate &&
    run.caughtUp &&
    run.lost === 0 &&
    run.outOfOrder === 0
  );
}

export const sustainedScenario: Scenario = {
  name: 'sustained',
  async run({ server, plan, log }) {
    const runs: SustainedRun[] = [];
    // Rates step up until one is not sustained (the rates above it would only queue more).
    for (const rate of plan.sustainedRates) {
      log(
        `10 sustained ${fmt(rate)}/s for ${plan.sustainedMs / 1000} s, ${plan.sustainedInstances} instances`,
      );
      const run = await sustainedLoad(server, {
        instances: plan.sustainedInstances,
        rate,
        durationMs: plan.sustainedMs,
      });
      runs.push(run);
      if (!sustained(run)) break;
    }
    const table: Table = {
      title: `10. Sustained load: ${plan.sustainedInstances} instances at library defaults, ${fmt(KEYS)} ordering keys, ${plan.sustainedMs / 1000} s per rate (commit → handler commit)`,
      header: [
        'Target/s',
        'Reached/s',
        'Published',
        'Lost',
        'Out of order',
        'Redelivered',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'Sustained',
      ],
      note: `One run per rate, stepping up until one is not sustained. Each business transaction updates its key's row (locked until commit) and publishes one event on that key; the handler inserts one projection row through ctx.tx. Sustained: reached ≥ ${SUSTAINED_SHARE * 100} % of the rate, every event handled within ${CATCH_UP_MS / 1000} s of the last publish, none lost, per-key order held. Namastack's published run: about 10,000 records/s, p50/p95/p99 ${NAMASTACK_MS.p50}/${NAMASTACK_MS.p95}/${NAMASTACK_MS.p99} ms (M2 Pro).`,
      rows: runs.map((r) => [
        fmt(r.targetRate),
        fmt(r.achievedRate),
        fmt(r.published),
        fmt(r.lost),
        fmt(r.outOfOrder),
        fmt(r.redelivered),
        ms(r.toCommit.p50),
        ms(r.toCommit.p95),
        ms(r.toCommit.p99),
        sustained(r) ? 'yes' : 'no',
      ]),
    };
    const checks: TargetCheck[] = [];
    const best = runs.filter(sustained).at(-1);
    checks.push({
      target: `Sustained load, ${plan.sustainedInstances} instances: at the highest rate sustained, p50/p95/p99 commit → handler commit below Namastack's ${NAMASTACK_MS.p50}/${NAMASTACK_MS.p95}/${NAMASTACK_MS.p99} ms, none lost, per-key order held`,
      measured: best
        ? `${fmt(best.achievedRate)}/s: ${ms(best.toCommit.p50)}/${ms(best.toCommit.p95)}/${ms(best.toCommit.p99)} ms`
        : 'no rate sustained',
      pass:
        best !== undefined &&
        best.toCommit.p50 < NAMASTACK_MS.p50 &&
        best.toCommit.p95 < NAMASTACK_MS.p95 &&
        best.toCommit.p99 < NAMASTACK_MS.p99,
    });
    checks.push({
      target: `Sustained load at ${fmt(Math.max(...plan.sustainedRates))}/s (issue 18's 5,000/s)`,
      measured: runs
        .map(
          (r) =>
            `${fmt(r.targetRate)}/s: ${sustained(r) ? 'sustained' : `not sustained (reached ${fmt(r.achievedRate)}/s)`}`,
        )
        .join('; '),
      pass: runs.length === plan.sustainedRates.length && runs.every(sustained),
    });
    return { results: { sustained: runs }, tables: [table], checks };
  },
};
