import { createBenchApp, eventFor } from '../lib/integration-app';
import { benchPool, type BenchServer } from '../lib/server';
import { fmt, med, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import {
  median,
  medianPercentiles,
  nowMs,
  percentiles,
  sleep,
  summarize,
  type Percentiles,
} from '../lib/stats';
import { WORKLOAD_DDL } from '../lib/workload';
import { startRecordingProcessors } from '../subjects/nestjs-integration';

/** Events per noisy publishing transaction. */
const NOISY_PER_TX = 1_000;

/** How long the quiet tenant publishes alone before the noisy tenant starts, ms. */
const ALONE_MS = 3_000;

/** The quiet tenant's latency in one phase of the run, next to one batch's time in it. */
export interface FairnessPhase {
  /** Quiet events: publishing transaction's COMMIT returned → handler started, ms. */
  readonly quietToStart: Percentiles;
  /**
   * One batch's time in the phase: `concurrency × batchSize / events whose handler started in
   * it per second`, ms (the whole run's when the phase started too few handlers to tell).
   */
  readonly batchMs: number;
}

/** Scenario 8 figures of one run. */
export interface FairnessRun {
  readonly noisyEvents: number;
  readonly quietRate: number;
  readonly batchSize: number;
  readonly concurrency: number;
  /** Noisy events committed per second while the noisy tenant published. */
  readonly noisyPublishPerSec: number;
  /** Noisy events handled per second, from the first noisy commit until the last was handled. */
  readonly noisyDrainPerSec: number;
  /** Seconds from the first noisy commit until the last noisy event was handled. */
  readonly drainSeconds: number;
  /**
   * One batch's time: how long a batch keeps one of the processor's `concurrency` slots,
   * `concurrency × batchSize / drain rate` (claim, handlers, commit, settle), ms.
   */
  readonly batchMs: number;
  /** Full noisy batches: first handler start → consumer transaction committed, ms. */
  readonly batchTxMs: Percentiles;
  /** Quiet events published while the noisy backlog was being published or drained. */
  readonly quietPublished: number;
  /**
   * Quiet events: publishing transaction's COMMIT returned → handler started, ms, while the
   * noisy tenant published or its backlog drained.
   */
  readonly quietToStart: Percentiles;
  /**
   * The quiet tenant by phase: alone (before the noisy tenant starts: its latency without a
   * flood), while the noisy tenant publishes, and while the noisy backlog drains afterwards.
   */
  readonly phases: {
    readonly alone: FairnessPhase;
    readonly publishing: FairnessPhase;
    readonly draining: FairnessPhase;
  };
  /** The same for noisy events (how long the backlog made them wait), ms. */
  readonly noisyToStart: Percentiles;
  /** The quiet events by commit time, per 5 s from the first noisy commit: where waits happen. */
  readonly quietBySlice: ReadonlyArray<{
    readonly fromS: number;
    readonly toStart: Percentiles;
    /** One batch's time in the slice: `concurrency × batchSize / events started in it per s`. */
    readonly batchMs: number;
  }>;
}

/**
 * 8: fairness across tenants (issue 16). One processor instance (library defaults, LISTEN),
 * one consumer. The quiet tenant publishes one event per transaction at `quietRate` per
 * second: alone for {@link ALONE_MS}, then while the noisy tenant publishes `noisyEvents`
 * events in bulk (transactions of 1,000, two at a time), until the noisy backlog is drained.
 * Reports the quiet tenant's latency per phase next to the time one batch takes in it.
 */
export async function fairness(
  server: BenchServer,
  options: { noisyEvents: number; quietRate: number },
): Promise<FairnessRun> {
  return server.withDatabase('own-fairness', async (db) => {
    const pool = benchPool(db.url, 8);
    const publisherApp = await createBenchApp(pool, { consumers: 0, listen: true });
    try {
      await pool.query(WORKLOAD_DDL);
      const [worker] = await startRecordingProcessors(db, 1);
      const { batchSize, concurrency } = { batchSize: 100, concurrency: 2 }; // library defaults
      worker!.go();
      // Let the processor start (LISTEN, consumers announced) before anything is published.
      await sleep(500);
      const commits = new Map<string, { at: number; quiet: boolean }>();
      let noisyDone = false;
      const quietFrom = nowMs();
      const t0 = quietFrom + ALONE_MS;
      let noisyPublishedAt = t0;
      // Two lanes of bulk transactions; each event stamped when its COMMIT returned.
      let next = 0;
      const noisyLane = async (): Promise<void> => {
        while (next < options.noisyEvents) {
          const first = next;
          const n = Math.min(NOISY_PER_TX, options.noisyEvents - first);
          next += n;
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            const ids = await publisherApp.publisher.publishMany(
              client,
              Array.from({ length: n }, (_, k) => ({ ...eventFor(first + k), tenantId: 'noisy' })),
            );
            await client.query('COMMIT');
            const at = nowMs();
            for (const id of ids) commits.set(id!, { at, quiet: false });
          } finally {
            client.release();
          }
        }
      };
      let quietPublished = 0;
      let quietAlone = 0;
      const quietCount = (): number => quietAlone + quietPublished;
      const quiet = (async () => {
        const interval = 1000 / options.quietRate;
        let n = 0;
        while (!noisyDone) {
          const due = quietFrom + n * interval;
          if (nowMs() < due) await sleep(due - nowMs());
          const client = await pool.connect();
          try {
            await client.query('BEGIN');
            const id = await publisherApp.publisher.publish(client, {
              ...eventFor(10_000_000 + n),
              tenantId: 'quiet',
            });
            await client.query('COMMIT');
            const at = nowMs();
            commits.set(id!, { at, quiet: true });
            if (at >= t0) quietPublished++;
            else quietAlone++;
          } finally {
            client.release();
          }
          n++;
        }
      })();
      await sleep(t0 - nowMs());
      const noisy = Promise.all([noisyLane(), noisyLane()]).then(() => {
        noisyPublishedAt = nowMs();
      });
      await noisy;
      // Drained: every noisy event handled (the handled count includes the quiet ones).
      for (;;) {
        const handled = worker!.samples.at(-1)?.handled ?? 0;
        if (handled >= options.noisyEvents + quietCount()) break;
        await sleep(50);
      }
      const drainedAt = nowMs();
      noisyDone = true;
      await quiet;
      const deadline = nowMs() + 10_000;
      while (
        (worker!.samples.at(-1)?.handled ?? 0) < options.noisyEvents + quietCount() &&
        nowMs() < deadline
      )
        await sleep(50);
      worker!.stop();
      const result = await worker!.result;
      const quietToStart: number[] = [];
      const noisyToStart: number[] = [];
      const phaseBounds = {
        alone: [quietFrom, t0],
        publishing: [t0, noisyPublishedAt],
        draining: [noisyPublishedAt, drainedAt],
      } as const;
      const phaseOf = (at: number): keyof typeof phaseBounds | undefined =>
        (Object.keys(phaseBounds) as Array<keyof typeof phaseBounds>).find(
          (phase) => at >= phaseBounds[phase][0] && at < phaseBounds[phase][1],
        );
      const quietByPhase = {
        alone: [] as number[],
        publishing: [] as number[],
        draining: [] as number[],
      };
      const startedByPhase = { alone: 0, publishing: 0, draining: 0 };
      const transactions = new Map<number, number[]>();
      const slices = new Map<number, number[]>();
      const startedPerSlice = new Map<number, number>();
      for (const [id, start, commit] of result.observed) {
        const startSlice = Math.floor((start - t0) / 5_000) * 5;
        startedPerSlice.set(startSlice, (startedPerSlice.get(startSlice) ?? 0) + 1);
        const startPhase = phaseOf(start);
        if (startPhase) startedByPhase[startPhase]++;
        const c = commits.get(id);
        if (c && !c.quiet) noisyToStart.push(start - c.at);
        const commitPhase = c?.quiet ? phaseOf(c.at) : undefined;
        if (commitPhase) quietByPhase[commitPhase].push(start - c!.at);
        if (c?.quiet && c.at >= t0) quietToStart.push(start - c.at);
        if (c?.quiet) {
          const slice = Math.floor((c.at - t0) / 5_000) * 5;
          slices.set(slice, [...(slices.get(slice) ?? []), start - c.at]);
        }
        const starts = transactions.get(commit) ?? [];
        starts.push(start);
        transactions.set(commit, starts);
      }
      const batchTx = [...transactions]
        .filter(([, starts]) => starts.length >= batchSize)
        .map(([commit, starts]) => commit - Math.min(...starts));
      const drainSeconds = (drainedAt - t0) / 1000;
      const noisyDrainPerSec = options.noisyEvents / drainSeconds;
      const batchMs = (concurrency * batchSize * 1000) / noisyDrainPerSec;
      const phase = (name: keyof typeof phaseBounds): FairnessPhase => {
        const [from, to] = phaseBounds[name];
        const started = startedByPhase[name];
        return {
          quietToStart: percentiles(quietByPhase[name]),
          batchMs:
            started >= 10 * batchSize ? (concurrency * batchSize * (to - from)) / started : batchMs,
        };
      };
      return {
        noisyEvents: options.noisyEvents,
        quietRate: options.quietRate,
        batchSize,
        concurrency,
        noisyPublishPerSec: options.noisyEvents / ((noisyPublishedAt - t0) / 1000),
        noisyDrainPerSec,
        drainSeconds,
        batchMs,
        batchTxMs: percentiles(batchTx),
        quietPublished,
        quietToStart: percentiles(quietToStart),
        phases: {
          alone: phase('alone'),
          publishing: phase('publishing'),
          draining: phase('draining'),
        },
        noisyToStart: percentiles(noisyToStart),
        quietBySlice: [...slices]
          .sort(([a], [b]) => a - b)
          .map(([fromS, values]) => ({
            fromS,
            toStart: percentiles(values),
            batchMs: (concurrency * batchSize * 5_000) / (startedPerSlice.get(fromS) ?? 0),
          })),
      };
    } finally {
      await publisherApp.close();
      await pool.end();
    }
  });
}

/** Scenario 8: a quiet tenant's latency while a noisy tenant floods the outbox (8, 8a by phase, 8b over time). */
export const fairnessScenario: Scenario = {
  name: 'fairness',
  async run({ server, plan, repeat }) {
    const runs = await repeat(
      plan.repeats,
      `8 fairness: noisy tenant ${fmt(plan.fairnessNoisyEvents)} events in bulk, quiet tenant ${plan.fairnessQuietRate}/s`,
      () =>
        fairness(server, {
          noisyEvents: plan.fairnessNoisyEvents,
          quietRate: plan.fairnessQuietRate,
        }),
    );
    const tables: Table[] = [];
    const checks: TargetCheck[] = [];
    const quiet = medianPercentiles(runs.map((r) => r.quietToStart));
    const noisy = medianPercentiles(runs.map((r) => r.noisyToStart));
    const batchTx = medianPercentiles(runs.map((r) => r.batchTxMs));
    const batchMs = median(runs.map((r) => r.batchMs));
    tables.push({
      title: `8. Fairness: a noisy tenant's ${fmt(plan.fairnessNoisyEvents)} events in bulk, a quiet tenant's ${plan.fairnessQuietRate}/s meanwhile (library defaults: batch 100, concurrency 2, LISTEN)`,
      note: 'Latency: publishing COMMIT returned → handler start. One batch: how long a batch holds one of the 2 slots while the backlog drains (2 × 100 / drain rate: claim, handlers, commit, settle); the consumer transaction alone is the next row. Drain: first noisy commit → last noisy event handled.',
      header: ['Figure', 'p50', 'p99', 'max'],
      rows: [
        ['quiet tenant, commit → handler start (ms)', ms(quiet.p50), ms(quiet.p99), ms(quiet.max)],
        ['noisy tenant, commit → handler start (ms)', ms(noisy.p50), ms(noisy.p99), ms(noisy.max)],
        ['one batch, slot time (ms)', ms(batchMs), '', ''],
        ['one batch, consumer transaction (ms)', ms(batchTx.p50), ms(batchTx.p99), ms(batchTx.max)],
        [
          'noisy drain (events/s; publish events/s)',
          `${med(summarize(runs.map((r) => r.noisyDrainPerSec)))}; ${med(summarize(runs.map((r) => r.noisyPublishPerSec)))}`,
          '',
          '',
        ],
        ['quiet events measured', fmt(median(runs.map((r) => r.quietPublished))), '', ''],
      ],
    });
    const phase = (name: 'alone' | 'publishing' | 'draining') => ({
      quiet: medianPercentiles(runs.map((r) => r.phases[name].quietToStart)),
      batchMs: median(runs.map((r) => r.phases[name].batchMs)),
    });
    const phases = {
      alone: phase('alone'),
      publishing: phase('publishing'),
      draining: phase('draining'),
    };
    const phaseLabels = {
      alone: 'alone (before the noisy tenant starts)',
      publishing: 'while the noisy tenant publishes',
      draining: "while the noisy tenant's backlog drains",
    };
    tables.push({
      title:
        "8a. Fairness by phase: the quiet tenant's commit → handler start, and how much of it the flood added",
      note: "Added: the phase's p99 less the p99 alone. One batch: 2 × 100 / events whose handler started in the phase per second (the drain's when the phase started fewer than 10 batches' worth).",
      header: ['Phase', 'Quiet events', 'p50 ms', 'p99 ms', 'Added p99 ms', 'One batch ms'],
      rows: (['alone', 'publishing', 'draining'] as const).map((name) => [
        phaseLabels[name],
        String(phases[name].quiet.count),
        ms(phases[name].quiet.p50),
        ms(phases[name].quiet.p99),
        name === 'alone' ? '' : ms(phases[name].quiet.p99 - phases.alone.quiet.p99),
        name === 'alone' ? '' : ms(phases[name].batchMs),
      ]),
    });
    tables.push({
      title: '8b. Fairness over time (first run): the quiet tenant per 5 s of commit time',
      note: 'Seconds from the first noisy commit. One batch: 2 × 100 / events whose handler started in the slice per second.',
      header: ['From s', 'Quiet events', 'p50 ms', 'p99 ms', 'max ms', 'One batch ms'],
      rows: runs[0]!.quietBySlice.map((slice) => [
        String(slice.fromS),
        String(slice.toStart.count),
        ms(slice.toStart.p50),
        ms(slice.toStart.p99),
        ms(slice.toStart.max),
        ms(slice.batchMs),
      ]),
    });
    for (const name of ['publishing', 'draining'] as const) {
      const added = phases[name].quiet.p99 - phases.alone.quiet.p99;
      checks.push({
        target: `Fairness ${phaseLabels[name]}: the flood adds ≤ one batch's time to a quiet tenant's p99 commit → handler start`,
        measured: `${ms(added)} ms added (p99 ${ms(phases[name].quiet.p99)} against ${ms(phases.alone.quiet.p99)} alone) against one batch of ${ms(phases[name].batchMs)} ms`,
        pass: added <= phases[name].batchMs,
      });
    }
    return { results: { fairness: runs }, tables, checks };
  },
};
