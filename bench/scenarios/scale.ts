import { DeliveryRepository } from '../../src/integration/processing/delivery.repository';
import { createBenchApp } from '../lib/integration-app';
import { benchPool, type BenchServer } from '../lib/server';
import { fmt, med, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { medianPercentiles, nowMs, percentiles, summarize, type Percentiles } from '../lib/stats';
import { WORKLOAD_DDL } from '../lib/workload';
import { pgAdapter } from '../../src/integration';
import { drainOwn } from '../subjects/nestjs-integration';

/** Scenario 6a figures of one run. */
export interface ClaimRun {
  readonly retainedProcessed: number;
  /** The processor's claim statement taking 100 due deliveries, ms. */
  readonly claim: Percentiles;
  /** The same statement when nothing is due (an idle poll), ms. */
  readonly idleClaim: Percentiles;
  /** The processor's settle statement (DeliveryRepository.settle) marking the 100 processed, ms. */
  readonly settle: Percentiles;
}

/** Events `$1..$2` (ids derived from the number) with one delivery each for consumer `scale`. */
const INSERT_EVENTS = (status: 'pending' | 'processed'): string => `
  WITH ev AS (
    INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
    SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'order.placed', 'order',
           g::text, 'order:' || g,
           jsonb_build_object('orderId', g, 'customer', 'customer-' || (g % 1000),
                              'amount', g % 97 + 1, 'note', 'benchmark order')
      FROM generate_series($1::int, $2::int) g
    RETURNING id, ordering_key, (aggregate_id)::bigint AS n
  )
  INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key, status, processed_at)
  SELECT id, 'scale', n, ordering_key, '${status}', ${status === 'processed' ? 'now()' : 'NULL'} FROM ev`;

/**
 * 6a: the processor's own claim and settle statements (DeliveryRepository.claim and settle,
 * batch 100) on tables holding `retained` processed events and deliveries (kept, as with the
 * default 7-day purge), measured `iterations` times: insert 100 due deliveries, claim them
 * (timed), settle them as processed (timed), delete them; plus an idle claim (timed).
 */
export async function claimLatency(
  server: BenchServer,
  retained: number,
  iterations: number,
): Promise<ClaimRun> {
  return server.withDatabase(`scale-claim-${retained}`, async (db) => {
    const pool = benchPool(db.url, 2);
    const bench = await createBenchApp(pool, { consumers: 0, listen: false });
    const repository = bench.app.get(DeliveryRepository);
    const adapter = pgAdapter(pool);
    try {
      await pool.query(WORKLOAD_DDL);
      for (let first = 1; first <= retained; first += 200_000) {
        const last = Math.min(retained, first + 199_999);
        await pool.query(INSERT_EVENTS('processed'), [first, last]);
      }
      await pool.query('VACUUM ANALYZE outbox_event, integration_delivery');
      const claims: number[] = [];
      const idle: number[] = [];
      const settles: number[] = [];
      let next = retained + 1;
      for (let i = 0; i < iterations + 5; i++) {
        await pool.query(INSERT_EVENTS('pending'), [next, next + 99]);
        next += 100;
        let t = nowMs();
        const claimed = await repository.claim(adapter, 'scale', ['scale'], 100, 30_000);
        const claimMs = nowMs() - t;
        if (claimed.length !== 100) throw new Error(`claimed ${claimed.length} of 100`);
        t = nowMs();
        const settled = await repository.settle(
          adapter.root,
          'scale',
          claimed.map((d) => ({
            eventId: d.eventId,
            consumer: d.consumer,
            attempt: d.attempt,
            decision: { action: 'processed' },
          })),
        );
        const settleMs = nowMs() - t;
        if (settled.length !== 100) throw new Error(`settled ${settled.length} of 100`);
        // Then deleted: the tables keep exactly `retained` processed rows.
        const ids = claimed.map((d) => d.eventId);
        await pool.query('DELETE FROM integration_delivery WHERE event_id = ANY($1::uuid[])', [
          ids,
        ]);
        await pool.query('DELETE FROM outbox_event WHERE id = ANY($1::uuid[])', [ids]);
        t = nowMs();
        const none = await repository.claim(adapter, 'scale', ['scale'], 100, 30_000);
        const idleMs = nowMs() - t;
        if (none.length !== 0) throw new Error('idle claim found events');
        if (i >= 5) {
          // the first five warm the caches
          claims.push(claimMs);
          settles.push(settleMs);
          idle.push(idleMs);
        }
      }
      return {
        retainedProcessed: retained,
        claim: percentiles(claims),
        idleClaim: percentiles(idle),
        settle: percentiles(settles),
      };
    } finally {
      await bench.close();
      await pool.end();
    }
  });
}

/** Scenario 6: the claim statement's latency against retained rows (6a), a processor's memory (6b). */
export const scaleScenario: Scenario = {
  name: 'scale',
  async run({ server, plan, repeat }) {
    const empty = await repeat(plan.repeats, '6a claim latency, empty table', () =>
      claimLatency(server, 0, plan.claimIterations),
    );
    const full = await repeat(
      plan.repeats,
      `6a claim latency, ${fmt(plan.retained)} processed rows retained`,
      () => claimLatency(server, plan.retained, plan.claimIterations),
    );
    const rss = await repeat(
      plan.repeats,
      `6b RSS while draining ${fmt(plan.rssEvents)} events`,
      () => drainOwn(server, { events: plan.rssEvents, consumers: 1, instances: 1 }),
    );
    const claim = (runs: ClaimRun[], f: (r: ClaimRun) => Percentiles): Percentiles =>
      medianPercentiles(runs.map(f));
    const growth = summarize(rss.map((r) => r.rssGrowthMiB));
    const tables: Table[] = [];
    const checks: TargetCheck[] = [];
    tables.push({
      title: '6a. Claim and settle statement latency (batch 100) vs retained processed rows',
      header: [
        'Processed rows retained',
        'Claim 100 p50 ms',
        'p99 ms',
        'Settle 100 p50 ms',
        'p99 ms',
        'Idle claim p50 ms',
        'p99 ms',
      ],
      rows: [
        [
          '0',
          ...[
            claim(empty, (r) => r.claim),
            claim(empty, (r) => r.settle),
            claim(empty, (r) => r.idleClaim),
          ].flatMap((p) => [ms(p.p50), ms(p.p99)]),
        ],
        [
          fmt(plan.retained),
          ...[
            claim(full, (r) => r.claim),
            claim(full, (r) => r.settle),
            claim(full, (r) => r.idleClaim),
          ].flatMap((p) => [ms(p.p50), ms(p.p99)]),
        ],
      ],
    });
    tables.push({
      title: `6b. Memory of one processor process draining ${fmt(plan.rssEvents)} events`,
      header: ['RSS at start MiB', 'Peak RSS MiB', 'Growth MiB', 'Events/s'],
      rows: [
        [
          fmt(summarize(rss.map((r) => r.peakRssMiB! - r.rssGrowthMiB)).median),
          fmt(summarize(rss.map((r) => r.peakRssMiB!)).median),
          med(growth),
          med(summarize(rss.map((r) => r.eventsPerSec))),
        ],
      ],
    });
    const ratio = claim(full, (r) => r.claim).p50 / claim(empty, (r) => r.claim).p50;
    checks.push({
      target: `Claim p50 with ${fmt(plan.retained)} processed rows ≤ 1.5× the empty table`,
      measured: `${fmt(ratio, 2)}× (${ms(claim(full, (r) => r.claim).p50)} vs ${ms(claim(empty, (r) => r.claim).p50)} ms)`,
      pass: ratio <= 1.5,
    });
    const settleRatio = claim(full, (r) => r.settle).p50 / claim(empty, (r) => r.settle).p50;
    checks.push({
      target: `Settle p50 with ${fmt(plan.retained)} processed rows ≤ 1.5× the empty table`,
      measured: `${fmt(settleRatio, 2)}× (${ms(claim(full, (r) => r.settle).p50)} vs ${ms(claim(empty, (r) => r.settle).p50)} ms)`,
      pass: settleRatio <= 1.5,
    });
    checks.push({
      target: `RSS growth while draining ${fmt(plan.rssEvents)} events ≤ 100 MB`,
      measured: `${fmt(growth.median, 1)} MiB`,
      pass: growth.median * 1.048576 <= 100,
    });
    return { results: { scale: { empty, full, rss } }, tables, checks };
  },
};
