/**
 * The sweeps behind docs/images' charts: drain throughput against the batch size and other
 * knobs (the knobs in full runs only), latency against the publish rate.
 */
import { fmt, type Table } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { latencyResult, latencyTable, type LatencyResult } from '../lib/summaries';
import { drainOwn, ownSubject, type OwnRunOptions } from '../subjects/nestjs-integration';

export const sweepScenario: Scenario = {
  name: 'sweep',
  async run({ server, plan, log }) {
    const tables: Table[] = [];
    const batch: Array<{ batchSize: number; eventsPerSec: number }> = [];
    for (const batchSize of plan.sweepBatchSizes) {
      log(`sweep: drain ${fmt(plan.sweepEvents)} at batch size ${batchSize}`);
      const r = await drainOwn(server, {
        events: plan.sweepEvents,
        consumers: 1,
        instances: 1,
        run: { batchSize },
      });
      batch.push({ batchSize, eventsPerSec: r.eventsPerSec });
    }
    const knobs: Array<{ knob: string; value: string; eventsPerSec: number }> = [];
    const knobRuns: Array<[string, string, OwnRunOptions]> = [
      ['processor.concurrency', '1', { concurrency: 1 }],
      ['processor.concurrency', '2 (default)', { concurrency: 2 }],
      ['processor.concurrency', '4', { concurrency: 4 }],
      ['consumer concurrency (pool with pipeline: true above 1)', '1 (default)', {}],
      ['consumer concurrency (pool with pipeline: true above 1)', '16', { eventConcurrency: 16 }],
      ['consumer concurrency (pool with pipeline: true above 1)', '64', { eventConcurrency: 64 }],
      ['transactional', "'batch' (default)", { transactional: 'batch' }],
      ['transactional', "'per-event'", { transactional: 'per-event' }],
      ['pool size (pg Pool max)', '4', { poolSize: 4 }],
      ['pool size (pg Pool max)', '10 (bench default)', { poolSize: 10 }],
      ['pool size (pg Pool max)', '20', { poolSize: 20 }],
    ];
    for (const [knob, value, run] of plan.quick ? [] : knobRuns) {
      log(`sweep: drain ${fmt(plan.sweepEvents)} with ${knob} = ${value}`);
      const r = await drainOwn(server, {
        events: plan.sweepEvents,
        consumers: 1,
        instances: 1,
        run,
      });
      knobs.push({ knob, value, eventsPerSec: r.eventsPerSec });
    }
    if (knobs.length)
      tables.push({
        title: `Sweep: other knobs (2a, 1 instance, ${fmt(plan.sweepEvents)} events, one run each, the rest at defaults)`,
        header: ['Knob', 'Value', 'Events/s'],
        rows: knobs.map((k) => [k.knob, k.value, fmt(k.eventsPerSec)]),
      });
    const rates: LatencyResult[] = [];
    for (const rate of plan.sweepRates) {
      log(`sweep: latency at ${rate}/s with LISTEN`);
      rates.push(
        latencyResult(ownSubject, rate, true, [
          await ownSubject.latency(server, { rate, durationMs: plan.sweepRateMs, listen: true }),
        ]),
      );
    }
    tables.push({
      title: `Sweep: drain throughput vs batch size (2a, 1 instance, ${fmt(plan.sweepEvents)} events, one run each)`,
      header: ['Batch size', 'Events/s'],
      rows: batch.map((b) => [String(b.batchSize), fmt(b.eventsPerSec)]),
    });
    tables.push(
      latencyTable(
        `Sweep: latency vs publish rate (LISTEN, ${plan.sweepRateMs / 1000} s each, one run)`,
        rates,
      ),
    );
    return {
      results: { sweep: { batch, knobs, rates } },
      tables,
      checks: [],
      charts: {
        batch,
        rates: rates.map((r) => ({
          rate: r.rate,
          p50: r.toStart.p50,
          p95: r.toStart.p95,
          p99: r.toStart.p99,
        })),
      },
    };
  },
};
