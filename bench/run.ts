/**
 * `npm run bench [-- --quick] [-- --only=limit,drain,...] [-- --repeats=N]`
 *
 * Runs every scenario against one PostgreSQL (embedded with durability on, or DATABASE_URL),
 * each run in a fresh database, and writes bench/results/latest.json and latest.md.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pgBoss12Subject, pgBossSubject } from './peers/pg-boss';
import {
  transactionalOutboxSubject,
  transactionalOutboxTunedSubject,
} from './peers/pg-transactional-outbox';
import { writeCharts } from './lib/charts';
import { runBaseline } from './lib/baseline';
import { BenchServer, EMBEDDED_BENCH_SETTINGS, describeMachine } from './lib/server';
import {
  fmt,
  med,
  ms,
  renderTable,
  renderTargets,
  type Table,
  type TargetCheck,
} from './lib/report';
import { median, medianPercentiles, summarize, type Percentiles, type Summary } from './lib/stats';
import type { BenchSubject, DrainFigures, LatencyFigures } from './lib/workload';
import {
  bareLoopCeiling,
  commitCeiling,
  BARE_HANDLERS,
  type BareHandler,
  type BareLoopRun,
  type CommitRun,
} from './scenarios/limit';
import {
  PUBLISH_VARIANTS,
  publishOverhead,
  type PublishRun,
  type PublishVariant,
} from './scenarios/publish';
import { claimLatency, type ClaimRun } from './scenarios/scale';
import { ADMIN_LISTINGS, adminListLatency } from './scenarios/admin';
import { fairness } from './scenarios/fairness';
import {
  RELAY_BROKERS,
  relayLatency,
  relayThroughput,
  type RelayThroughputRun,
} from './scenarios/relay';
import {
  THROUGHPUT_PROFILE,
  drainOwn,
  latencyOwn,
  ownSubject,
  tunedProfile,
  type OwnRunOptions,
} from './subjects/nestjs-integration';
import { BENCH_ADAPTERS, type BenchAdapter } from './lib/bench-orm';

const SCENARIOS = [
  'limit',
  'drain',
  'latency',
  'publish',
  'peers',
  'scale',
  'admin',
  'fairness',
  'sweep',
  'relay',
] as const;
type Scenario = (typeof SCENARIOS)[number];
/** Scenarios that need more than PostgreSQL (the brokers): run only when named in --only. */
const OPT_IN: readonly Scenario[] = ['relay'];

interface Plan {
  readonly quick: boolean;
  readonly repeats: number;
  readonly commitMs: number;
  readonly bareEvents: number;
  readonly drainEvents: number;
  readonly latencyMs: number;
  readonly publishMs: number;
  readonly retained: number;
  readonly claimIterations: number;
  /** Dead letters seeded for the admin listing scenario (7a). */
  readonly adminDeadLetters: number;
  readonly adminIterations: number;
  /** The noisy tenant's backlog of scenario 8 (fairness). */
  readonly fairnessNoisyEvents: number;
  /** The quiet tenant's events per second in scenario 8. */
  readonly fairnessQuietRate: number;
  readonly rssEvents: number;
  readonly sweepEvents: number;
  readonly sweepBatchSizes: readonly number[];
  readonly sweepRates: readonly number[];
  readonly sweepRateMs: number;
  /** A peer's drain stops here and reports its partial rate (some peers need many minutes). */
  readonly peerDrainMaxSeconds: number;
  /** After publishing, how long a latency run waits for the last deliveries. */
  readonly latencyMaxWaitMs: number;
  /** Scenario 9a: events relayed per run. */
  readonly relayEvents: number;
  /**
   * Scenario 9b: business transactions per second (one run per rate: well below saturation,
   * and near it), and for how long.
   */
  readonly relayRates: readonly number[];
  readonly relayLatencyMs: number;
}

const FULL: Plan = {
  quick: false,
  repeats: 3,
  commitMs: 5_000,
  bareEvents: 50_000,
  drainEvents: 50_000,
  latencyMs: 30_000,
  publishMs: 9_000,
  retained: 1_000_000,
  claimIterations: 200,
  adminDeadLetters: 100_000,
  adminIterations: 200,
  fairnessNoisyEvents: 100_000,
  fairnessQuietRate: 20,
  rssEvents: 200_000,
  sweepEvents: 20_000,
  sweepBatchSizes: [10, 25, 50, 100, 250, 500],
  sweepRates: [250, 500, 1_000, 2_000, 3_000],
  sweepRateMs: 10_000,
  peerDrainMaxSeconds: 120,
  latencyMaxWaitMs: 30_000,
  relayEvents: 20_000,
  relayRates: [50, 200],
  relayLatencyMs: 20_000,
};

const QUICK: Plan = {
  quick: true,
  repeats: 1,
  commitMs: 1_000,
  bareEvents: 10_000,
  drainEvents: 10_000,
  latencyMs: 3_000,
  publishMs: 2_000,
  retained: 100_000,
  claimIterations: 50,
  adminDeadLetters: 100_000,
  adminIterations: 50,
  fairnessNoisyEvents: 100_000,
  fairnessQuietRate: 20,
  rssEvents: 20_000,
  sweepEvents: 5_000,
  sweepBatchSizes: [25, 250],
  sweepRates: [500, 2_000],
  sweepRateMs: 2_000,
  peerDrainMaxSeconds: 15,
  latencyMaxWaitMs: 5_000,
  relayEvents: 5_000,
  relayRates: [50, 200],
  relayLatencyMs: 5_000,
};

function parseArgs(argv: readonly string[]): {
  plan: Plan;
  only: Set<Scenario>;
  baseline?: string;
} {
  let plan = FULL;
  let baseline: string | undefined;
  let only = new Set<Scenario>(SCENARIOS.filter((s) => !OPT_IN.includes(s)));
  let repeats: number | undefined;
  for (const arg of argv) {
    if (arg === '--quick') plan = QUICK;
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',').filter(Boolean);
      const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
      if (unknown.length)
        throw new Error(
          `Unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.join(', ')}`,
        );
      only = new Set(names as Scenario[]);
    } else if (arg.startsWith('--baseline=')) {
      baseline = arg.slice('--baseline='.length);
      if (!/^[\w./~^-]+$/.test(baseline)) throw new Error('--baseline must be a git revision');
    } else if (arg.startsWith('--repeats=')) {
      repeats = Number(arg.slice('--repeats='.length));
      if (!Number.isInteger(repeats) || repeats < 1)
        throw new Error('--repeats must be a positive integer');
    } else
      throw new Error(
        `Unknown argument ${arg}. Usage: npm run bench [-- --quick] [--only=${SCENARIOS.join(',')}] [--repeats=N] [--baseline=<git rev>]`,
      );
  }
  return { plan: repeats ? { ...plan, repeats } : plan, only, ...(baseline ? { baseline } : {}) };
}

function log(message: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function repeat<T>(
  times: number,
  label: string,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < times; i++) {
    log(`${label} (${i + 1}/${times})`);
    out.push(await fn(i));
  }
  return out;
}

interface DrainResult {
  readonly consumers: number;
  readonly instances: number;
  readonly runs: DrainFigures[];
  readonly eventsPerSec: Summary;
  readonly deliveriesPerSec: Summary;
  readonly commitsPerDelivery: Summary;
}

interface LatencyResult {
  readonly subject: string;
  /** How it was woken: LISTEN, polling, or polling because the library has no LISTEN. */
  readonly wakeUp: string;
  readonly rate: number;
  readonly listen: boolean;
  readonly runs: LatencyFigures[];
  readonly achievedRate: Summary;
  readonly toStart: Percentiles;
  readonly toCommit: Percentiles;
}

function drainResult(consumers: number, instances: number, runs: DrainFigures[]): DrainResult {
  return {
    consumers,
    instances,
    runs,
    eventsPerSec: summarize(runs.map((r) => r.eventsPerSec)),
    deliveriesPerSec: summarize(runs.map((r) => r.deliveriesPerSec)),
    commitsPerDelivery: summarize(runs.map((r) => r.commitsPerDelivery)),
  };
}

function latencyResult(
  subject: BenchSubject,
  rate: number,
  listen: boolean,
  runs: LatencyFigures[],
  wakeUp?: string,
): LatencyResult {
  return {
    subject: subject.name,
    wakeUp:
      wakeUp ??
      (!subject.listenSupported
        ? 'polling (no LISTEN support)'
        : listen
          ? 'LISTEN'
          : 'polling only'),
    rate,
    listen,
    runs,
    achievedRate: summarize(runs.map((r) => r.achievedRate)),
    toStart: medianPercentiles(runs.map((r) => r.toStart)),
    toCommit: medianPercentiles(runs.map((r) => r.toCommit)),
  };
}

async function main(): Promise<void> {
  const { plan, only, baseline } = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const server = await BenchServer.start();
  const results: Record<string, unknown> = {};
  const tables: Table[] = [];
  const checks: TargetCheck[] = [];
  const subjects: BenchSubject[] = [
    ownSubject,
    pgBossSubject,
    pgBoss12Subject,
    transactionalOutboxSubject,
    transactionalOutboxTunedSubject,
  ];
  const pgBosses: readonly BenchSubject[] = [pgBossSubject, pgBoss12Subject];
  try {
    const pg = await server.describe();
    log(`PostgreSQL: ${pg.version}`);

    // ── 1. Limits ──────────────────────────────────────────────────────────────────────────
    let commit1: Summary | undefined;
    let bareBest: number | undefined;
    let bareHandlerBest: number | undefined;
    let barePipelinedBest: number | undefined;
    if (only.has('limit')) {
      const commits: Array<{ connections: number; runs: CommitRun[] }> = [];
      for (const c of [1, 8, 32]) {
        commits.push({
          connections: c,
          runs: await repeat(plan.repeats, `1a commit ceiling, ${c} connection(s)`, () =>
            commitCeiling(server, c, plan.commitMs),
          ),
        });
      }
      const bare: Array<{ connections: number; handler: BareHandler; runs: BareLoopRun[] }> = [];
      const labels: Record<BareHandler, string> = {
        none: '1b bare claim-and-complete',
        sequential: '1c bare claim-and-complete + handler inserts',
        pipelined: '1d bare claim-and-complete + pipelined handler inserts',
      };
      for (const handler of BARE_HANDLERS) {
        for (const c of [1, 2, 3, 4]) {
          bare.push({
            connections: c,
            handler,
            runs: await repeat(plan.repeats, `${labels[handler]}, ${c} connection(s)`, () =>
              bareLoopCeiling(server, c, plan.bareEvents, handler),
            ),
          });
        }
      }
      commit1 = summarize(commits[0]!.runs.map((r) => r.latency.p50));
      const bareRate = (c: number, handler: BareHandler): Summary =>
        summarize(
          bare
            .find((b) => b.connections === c && b.handler === handler)!
            .runs.map((r) => r.eventsPerSec),
        );
      const best = (handler: BareHandler): number =>
        Math.max(...[1, 2, 3, 4].map((c) => bareRate(c, handler).median));
      bareBest = best('none');
      bareHandlerBest = best('sequential');
      barePipelinedBest = best('pipelined');
      results.limit = { commits, bare };
      tables.push({
        title: '1a. Commit ceiling: one-row INSERT transactions',
        header: ['Connections', 'Commits/s', 'Latency p50 ms', 'p99 ms'],
        rows: commits.map((c) => [
          String(c.connections),
          med(summarize(c.runs.map((r) => r.commitsPerSec))),
          ms(summarize(c.runs.map((r) => r.latency.p50)).median),
          ms(summarize(c.runs.map((r) => r.latency.p99)).median),
        ]),
      });
      tables.push({
        title: `1b. Bare SQL claim-and-complete loop (batch 100, SKIP LOCKED), ${fmt(plan.bareEvents)} events`,
        note: '1b: no handler. 1c: plus the 2a handler’s work done by hand (one transaction per batch inserting one projection row per event, one INSERT at a time; no inbox, no ordering, no library). 1d: 1c with the batch’s INSERTs sent at once on a pipelined connection (the floor of 2a’s throughput profile).',
        header: [
          'Connections',
          '1b events/s (no handler)',
          '1c events/s (+ handler inserts)',
          '1d events/s (+ pipelined handler inserts)',
        ],
        rows: [1, 2, 3, 4].map((c) => [
          String(c),
          ...BARE_HANDLERS.map((h) => med(bareRate(c, h))),
        ]),
      });
    }

    // ── 2. Drain ───────────────────────────────────────────────────────────────────────────
    let own2a: DrainResult[] = [];
    let drainDefaults: DrainResult | undefined;
    let ownLatency: LatencyResult[] = [];
    if (only.has('drain')) {
      const drains: DrainResult[] = [];
      drainDefaults = drainResult(
        1,
        1,
        await repeat(
          plan.repeats,
          `2a drain ${fmt(plan.drainEvents)} events, library defaults, 1 instance`,
          () => drainOwn(server, { events: plan.drainEvents, consumers: 1, instances: 1 }),
        ),
      );
      for (const consumers of [1, 3]) {
        for (const instances of [1, 2]) {
          const runs = await repeat(
            plan.repeats,
            `2${consumers === 1 ? 'a' : 'b'} drain ${fmt(plan.drainEvents)} events, ${consumers} consumer(s), ${instances} instance(s)`,
            () =>
              drainOwn(server, {
                events: plan.drainEvents,
                consumers,
                instances,
                run: THROUGHPUT_PROFILE,
              }),
          );
          drains.push(drainResult(consumers, instances, runs));
        }
      }
      own2a = drains.filter((d) => d.consumers === 1);
      results.drain = drains;
      // Metrics and tracing off and on (and their parts), alternating, so all see the same
      // machine. The processor's CPU time per delivery says what each costs even when the rate
      // is disturbed by whatever else runs.
      const modes = ['off', 'metrics', 'on', 'sampled'] as const;
      const observed: Record<(typeof modes)[number], DrainFigures[]> = {
        off: [],
        metrics: [],
        on: [],
        sampled: [],
      };
      await repeat(
        plan.repeats,
        `2a drain ${fmt(plan.drainEvents)} events, metrics and tracing off, metrics only, on, sampled`,
        async () => {
          for (const observability of modes) {
            observed[observability].push(
              await drainOwn(server, {
                events: plan.drainEvents,
                consumers: 1,
                instances: 1,
                run: { ...THROUGHPUT_PROFILE, observability },
              }),
            );
          }
        },
      );
      const observedResults = Object.fromEntries(
        modes.map((m) => [m, drainResult(1, 1, observed[m])]),
      ) as Record<(typeof modes)[number], ReturnType<typeof drainResult>>;
      results.drainObservability = observedResults;
      const offRate = observedResults.off.eventsPerSec.median;
      const cpuOf = (m: (typeof modes)[number]): number =>
        median(observed[m].map((r) => r.cpuUsPerDelivery ?? Number.NaN));
      const observabilityRatio = observedResults.on.eventsPerSec.median / offRate;
      const sampledRatio = observedResults.sampled.eventsPerSec.median / offRate;
      tables.push({
        title: '2c. Drain 2a with metrics and tracing off and on (alternating runs)',
        header: ['Metrics and tracing', 'Events/s', '/ off', 'Processor CPU µs per delivery'],
        note: 'off: no metrics option, tracing.enabled false. metrics: the metrics option with a registry of its own, tracing off. on: metrics, and tracing through a recording OpenTelemetry SDK sampling every span (batched, dropped by the exporter; an AsyncLocalStorage context manager). sampled: the same with a parent-based sampler keeping 10 % of root traces.',
        rows: modes.map((m) => [
          m,
          med(observedResults[m].eventsPerSec),
          m === 'off' ? '' : `${fmt(observedResults[m].eventsPerSec.median / offRate, 3)}×`,
          fmt(cpuOf(m), 1),
        ]),
      });
      checks.push({
        target: 'Metrics and tracing cost ≤ 5 % of drain 2a throughput (on / off ≥ 0.95)',
        measured: `every span recorded: ${fmt(observabilityRatio, 3)}× (${fmt(observedResults.on.eventsPerSec.median)} against ${fmt(offRate)} events/s); 10 % sampled: ${fmt(sampledRatio, 3)}×`,
        pass: observabilityRatio >= 0.95,
      });
      // The consumer stats recorder off and on, alternating (issue 15).
      const recorded: Record<'off' | 'on', DrainFigures[]> = { off: [], on: [] };
      await repeat(
        plan.repeats,
        `2a drain ${fmt(plan.drainEvents)} events, consumer stats recorder off, then on`,
        async () => {
          for (const mode of ['off', 'on'] as const) {
            recorded[mode].push(
              await drainOwn(server, {
                events: plan.drainEvents,
                consumers: 1,
                instances: 1,
                run: { ...THROUGHPUT_PROFILE, stats: mode === 'on' },
              }),
            );
          }
        },
      );
      const statsOff = drainResult(1, 1, recorded.off);
      const statsOn = drainResult(1, 1, recorded.on);
      results.drainStats = { off: statsOff, on: statsOn };
      const statsRatio = statsOn.eventsPerSec.median / statsOff.eventsPerSec.median;
      tables.push({
        title: '2d. Drain 2a with the consumer stats recorder off and on (alternating runs)',
        header: ['Stats recorder', 'Events/s', 'on / off'],
        note: 'on: processor.stats enabled (counts per consumer and minute from the lifecycle events, one upsert every 5 s and at stop); off: processor.stats.enabled false. Metrics and tracing at library defaults.',
        rows: [
          ['off', med(statsOff.eventsPerSec), ''],
          ['on', med(statsOn.eventsPerSec), `${fmt(statsRatio, 3)}×`],
        ],
      });
      checks.push({
        target: 'Consumer stats recorder cost ≤ 2 % of drain 2a throughput (on / off ≥ 0.98)',
        measured: `${fmt(statsRatio, 3)}× (${fmt(statsOn.eventsPerSec.median)} against ${fmt(statsOff.eventsPerSec.median)} events/s)`,
        pass: statsRatio >= 0.98,
      });
      tables.push({
        title: `2. Drain a backlog of ${fmt(plan.drainEvents)} events (handler inserts one projection row via ctx.tx; inbox on)`,
        header: [
          'Scenario',
          'Consumers',
          'Instances',
          'Events/s',
          'Deliveries/s',
          'Commits per delivery',
          '% of bare ceiling (1b best)',
          '% of bare + handler (1c best)',
          '% of bare + pipelined handler (1d best)',
        ],
        note: `2a/2b: the throughput profile (batchSize ${THROUGHPUT_PROFILE.batchSize}, concurrency ${THROUGHPUT_PROFILE.concurrency}, pool ${THROUGHPUT_PROFILE.poolSize} with pipeline: true, consumer concurrency ${THROUGHPUT_PROFILE.eventConcurrency}); “2a defaults”: batchSize 100, concurrency 2, pool 10, consumer concurrency 1.`,
        rows: [
          ...(drainDefaults ? [{ ...drainDefaults, label: '2a defaults' }] : []),
          ...drains,
        ].map((d) => [
          'label' in d ? d.label : d.consumers === 1 ? '2a' : '2b',
          String(d.consumers),
          String(d.instances),
          med(d.eventsPerSec),
          med(d.deliveriesPerSec),
          fmt(d.commitsPerDelivery.median, 3),
          bareBest ? `${fmt((d.eventsPerSec.median / bareBest) * 100)} %` : '–',
          bareHandlerBest && d.consumers === 1
            ? `${fmt((d.eventsPerSec.median / bareHandlerBest) * 100)} %`
            : '–',
          barePipelinedBest && d.consumers === 1
            ? `${fmt((d.eventsPerSec.median / barePipelinedBest) * 100)} %`
            : '–',
        ]),
      });
      // Drain 2a through each of the library's adapters, at the defaults and at the throughput
      // profile (as far as the adapter can take it), alternating within each repeat so the
      // ratios to pg compare runs that saw the same machine.
      const profiles = ['defaults', 'tuned'] as const;
      const perAdapter: Record<string, DrainFigures[]> = {};
      const adapterKey = (a: BenchAdapter, p: (typeof profiles)[number]): string => `${a} ${p}`;
      await repeat(
        plan.repeats,
        `2e drain ${fmt(plan.drainEvents)} events per adapter (${BENCH_ADAPTERS.join(', ')}), defaults then tuned`,
        async () => {
          for (const profile of profiles) {
            for (const adapter of BENCH_ADAPTERS) {
              (perAdapter[adapterKey(adapter, profile)] ??= []).push(
                await drainOwn(server, {
                  events: plan.drainEvents,
                  consumers: 1,
                  instances: 1,
                  run: profile === 'tuned' ? tunedProfile(adapter) : { adapter },
                }),
              );
            }
          }
        },
      );
      const adapterResults = Object.fromEntries(
        Object.entries(perAdapter).map(([k, runs]) => [k, drainResult(1, 1, runs)]),
      );
      results.drainAdapters = adapterResults;
      const rateOf = (a: BenchAdapter, p: (typeof profiles)[number]): number =>
        adapterResults[adapterKey(a, p)]!.eventsPerSec.median;
      tables.push({
        title: `2e. Drain 2a per adapter (${fmt(plan.drainEvents)} events, 1 consumer inserting one row through ctx.tx, inbox on, 1 instance; alternating runs)`,
        note:
          'defaults: library defaults (batchSize 100, concurrency 2, consumer concurrency 1), pool 10. ' +
          `tuned: batchSize ${THROUGHPUT_PROFILE.batchSize}, concurrency ${THROUGHPUT_PROFILE.concurrency}, pool ${THROUGHPUT_PROFILE.poolSize}; ` +
          `pg also with pipeline: true and consumer concurrency ${THROUGHPUT_PROFILE.eventConcurrency}, which Knex and Prisma cannot use (they send a transaction's statements one at a time, so the library would run one event at a time anyway). ` +
          'Handler: pg client.query(INSERT …); Knex trx(table).insert({…}); Prisma tx.$executeRaw`INSERT …`. CPU: the processor process, user + system, per delivery.',
        header: [
          'Adapter',
          'Profile',
          'Events/s',
          '/ pg (same profile)',
          'Commits per delivery',
          'Processor CPU µs per delivery',
        ],
        rows: profiles.flatMap((p) =>
          BENCH_ADAPTERS.map((a) => {
            const r = adapterResults[adapterKey(a, p)]!;
            return [
              a,
              p,
              med(r.eventsPerSec),
              a === 'pg' ? '' : `${fmt(rateOf(a, p) / rateOf('pg', p), 2)}×`,
              fmt(r.commitsPerDelivery.median, 3),
              fmt(median(r.runs.map((x) => x.cpuUsPerDelivery ?? Number.NaN)), 1),
            ];
          }),
        ),
      });
      for (const p of profiles) {
        const knex = rateOf('knex', p) / rateOf('pg', p);
        const prisma = rateOf('prisma', p) / rateOf('pg', p);
        checks.push({
          target: `Drain 2a at ${p === 'defaults' ? 'library defaults' : 'the tuned profile'}: Knex and Prisma ≥ 0.7× pg`,
          measured: `Knex ${fmt(knex, 2)}×, Prisma ${fmt(prisma, 2)}× (${fmt(rateOf('knex', p))} and ${fmt(rateOf('prisma', p))} against ${fmt(rateOf('pg', p))} events/s)`,
          pass: knex >= 0.7 && prisma >= 0.7,
        });
      }
      if (drainDefaults) {
        checks.push({
          target: 'Drain 2a (1 instance, library defaults) ≥ 5,000 events/s',
          measured: `${fmt(drainDefaults.eventsPerSec.median)} events/s`,
          pass: drainDefaults.eventsPerSec.median >= 5_000,
        });
      }
      for (const d of own2a) {
        checks.push({
          target: `Drain 2a (${d.instances} instance${d.instances > 1 ? 's' : ''}) ≥ 5,000 events/s`,
          measured: `${fmt(d.eventsPerSec.median)} events/s`,
          pass: d.eventsPerSec.median >= 5_000,
        });
        if (bareBest) {
          checks.push({
            target: `Drain 2a (${d.instances} instance${d.instances > 1 ? 's' : ''}) ≥ 40 % of the bare claim-and-complete ceiling`,
            measured:
              `${fmt((d.eventsPerSec.median / bareBest) * 100)} % of ${fmt(bareBest)} events/s (best of 1–4 connections)` +
              (barePipelinedBest
                ? `; the pipelined hand-written floor 1d reaches ${fmt((barePipelinedBest / bareBest) * 100)} %`
                : ''),
            pass: d.eventsPerSec.median / bareBest >= 0.4,
          });
        }
        checks.push({
          target: `Drain 2a (${d.instances} instance${d.instances > 1 ? 's' : ''}) commits per delivered event ≤ 0.1`,
          measured: fmt(d.commitsPerDelivery.median, 3),
          pass: d.commitsPerDelivery.median <= 0.1,
        });
      }
    }

    // ── 3. Latency ─────────────────────────────────────────────────────────────────────────
    const latencies: LatencyResult[] = [];
    if (only.has('latency')) {
      // LISTEN at the defaults, LISTEN with a NOTIFY on every publish (notify.windowMs 0: what
      // the default was before issue 18), polling only.
      const modes = [
        { listen: true, wakeUp: undefined, notifyWindowMs: undefined },
        { listen: true, wakeUp: 'LISTEN, NOTIFY on every publish', notifyWindowMs: 0 },
        { listen: false, wakeUp: undefined, notifyWindowMs: undefined },
      ] as const;
      for (const { listen, wakeUp, notifyWindowMs } of modes) {
        for (const rate of [500, 2_000]) {
          const runs = await repeat(
            plan.repeats,
            `3 latency ${rate}/s, ${wakeUp ?? (listen ? 'LISTEN' : 'polling only')}`,
            () => latencyOwn(server, { rate, durationMs: plan.latencyMs, listen, notifyWindowMs }),
          );
          latencies.push(latencyResult(ownSubject, rate, listen, runs, wakeUp));
        }
      }
      results.latency = latencies;
      ownLatency = latencies.filter((l) => l.listen && l.wakeUp === 'LISTEN');
      tables.push(
        latencyTable(
          `3. Latency at a steady publish rate for ${plan.latencyMs / 1000} s (commit → handler)`,
          latencies,
        ),
      );
      const l500 = ownLatency.find((l) => l.rate === 500);
      if (l500 && commit1) {
        checks.push({
          target: 'Latency 500/s with LISTEN: p50 commit→handler start ≤ 3× a single commit',
          measured: `${ms(l500.toStart.p50)} ms = ${fmt(l500.toStart.p50 / commit1.median, 2)}× (commit p50 ${ms(commit1.median)} ms)`,
          pass: l500.toStart.p50 <= 3 * commit1.median,
        });
        checks.push({
          target: 'Latency 500/s with LISTEN: p99 commit→handler start ≤ 10× a single commit',
          measured: `${ms(l500.toStart.p99)} ms = ${fmt(l500.toStart.p99 / commit1.median, 2)}×`,
          pass: l500.toStart.p99 <= 10 * commit1.median,
        });
      }
    }

    // ── Before/after: another revision's drain and latency, same server, same run ───────────
    if (baseline) {
      const before = await runBaseline(baseline, server.adminUrl, {
        repeats: plan.repeats,
        quick: plan.quick,
        log,
      });
      results.baseline = before;
      const ownDrain = (results.drain ?? []) as DrainResult[];
      type DrainFigure = {
        readonly consumers: number;
        readonly instances: number;
        readonly eventsPerSec: { readonly median: number };
        readonly deliveriesPerSec: { readonly median: number };
      };
      const drainOf = (
        list: readonly DrainFigure[],
        c: number,
        i: number,
      ): DrainFigure | undefined => list.find((d) => d.consumers === c && d.instances === i);
      const rows: string[][] = [];
      const ratio = (after: number, was: number): string => `${fmt(after / was, 3)}×`;
      for (const [c, i, label] of [
        [1, 1, '2a, 1 instance, events/s'],
        [1, 2, '2a, 2 instances, events/s'],
        [3, 1, '2b (3 consumers), 1 instance, deliveries/s'],
        [3, 2, '2b (3 consumers), 2 instances, deliveries/s'],
      ] as const) {
        const was = drainOf(before.drain ?? [], c, i);
        const now = drainOf(ownDrain, c, i);
        if (!was || !now) continue;
        const pick = (d: {
          eventsPerSec: { median: number };
          deliveriesPerSec: { median: number };
        }) => (c === 1 ? d.eventsPerSec.median : d.deliveriesPerSec.median);
        rows.push([label, fmt(pick(was)), fmt(pick(now)), ratio(pick(now), pick(was))]);
      }
      for (const l of ownLatency) {
        const was = before.latency?.find((b) => b.listen && b.rate === l.rate);
        if (!was) continue;
        rows.push([
          `latency ${l.rate}/s LISTEN, p50 ms`,
          ms(was.toStart.p50),
          ms(l.toStart.p50),
          ratio(l.toStart.p50, was.toStart.p50),
        ]);
        rows.push([
          `latency ${l.rate}/s LISTEN, p99 ms`,
          ms(was.toStart.p99),
          ms(l.toStart.p99),
          ratio(l.toStart.p99, was.toStart.p99),
        ]);
      }
      tables.push({
        title: `Before/after: ${baseline} (${before.commit.slice(0, 12)}) and this checkout, same server, same run`,
        header: ['Figure', 'before', 'after', 'after / before'],
        note: 'Drains: the throughput profile of scenario 2. Latency: library defaults, commit → handler start. The baseline ran its own scenarios 2 and 3 from its own build.',
        rows,
      });
      const was2a = drainOf(before.drain ?? [], 1, 1);
      const now2a = drainOf(ownDrain, 1, 1);
      if (was2a && now2a) {
        checks.push({
          target: `Drain 2a (1 instance) within 10 % of ${baseline}`,
          measured: ratio(now2a.eventsPerSec.median, was2a.eventsPerSec.median),
          pass: now2a.eventsPerSec.median >= 0.9 * was2a.eventsPerSec.median,
        });
      }
      const was2b = drainOf(before.drain ?? [], 3, 1);
      const now2b = drainOf(ownDrain, 3, 1);
      if (was2b && now2b) {
        checks.push({
          target: `Drain 2b (3 consumers, 1 instance) deliveries/s not lower than ${baseline}`,
          measured: ratio(now2b.deliveriesPerSec.median, was2b.deliveriesPerSec.median),
          pass: now2b.deliveriesPerSec.median >= was2b.deliveriesPerSec.median,
        });
      }
      const l500 = ownLatency.find((l) => l.rate === 500);
      const was500 = before.latency?.find((b) => b.listen && b.rate === 500);
      if (l500 && was500) {
        checks.push({
          target: `Latency 500/s with LISTEN: p50 ≤ 1.2× ${baseline}'s`,
          measured: ratio(l500.toStart.p50, was500.toStart.p50),
          pass: l500.toStart.p50 <= 1.2 * was500.toStart.p50,
        });
      }
    }

    // ── 4. Publish overhead ────────────────────────────────────────────────────────────────
    if (only.has('publish')) {
      const byConn: Array<{ connections: number; runs: PublishRun[][] }> = [];
      for (const c of [1, 16]) {
        byConn.push({
          connections: c,
          runs: await repeat(plan.repeats, `4 publish overhead, ${c} connection(s)`, () =>
            publishOverhead(server, c, plan.publishMs),
          ),
        });
      }
      results.publish = byConn;
      const stat = (
        runs: PublishRun[][],
        v: PublishVariant,
        f: (r: PublishRun) => number,
      ): Summary => summarize(runs.map((r) => f(r.find((x) => x.variant === v)!)));
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
    }

    // ── 5. Peers ───────────────────────────────────────────────────────────────────────────
    if (only.has('peers')) {
      const peerDrains: Array<{ subject: string; result: DrainResult }> = [];
      const peerLatencies: LatencyResult[] = [];
      for (const subject of subjects) {
        const own = subject === ownSubject;
        for (const instances of [1, 2]) {
          const reuse = own ? own2a.find((d) => d.instances === instances) : undefined;
          if (reuse) {
            log(`5 ${subject.name}: drain, ${instances} instance(s): the figures of scenario 2a`);
            peerDrains.push({ subject: subject.name, result: reuse });
            continue;
          }
          const runs = await repeat(
            plan.repeats,
            `5 ${subject.name}: drain ${fmt(plan.drainEvents)}, ${instances} instance(s)`,
            () =>
              subject.drain(server, {
                events: plan.drainEvents,
                consumers: 1,
                instances,
                ...(own ? {} : { maxSeconds: plan.peerDrainMaxSeconds }),
              }),
          );
          peerDrains.push({ subject: subject.name, result: drainResult(1, instances, runs) });
        }
        for (const rate of [500, 2_000]) {
          const reuse = own ? ownLatency.find((l) => l.rate === rate) : undefined;
          if (reuse) {
            log(`5 ${subject.name}: latency ${rate}/s: the figures of scenario 3`);
            peerLatencies.push(reuse);
            continue;
          }
          const runs = await repeat(plan.repeats, `5 ${subject.name}: latency ${rate}/s`, () =>
            subject.latency(server, {
              rate,
              durationMs: plan.latencyMs,
              listen: true,
              maxWaitMs: plan.latencyMaxWaitMs,
            }),
          );
          peerLatencies.push(latencyResult(subject, rate, true, runs));
        }
      }
      results.peers = {
        subjects: subjects.map((s) => ({
          name: s.name,
          version: s.version,
          configuration: s.configuration,
        })),
        drains: peerDrains,
        latencies: peerLatencies,
      };
      tables.push({
        title: `5a. Side by side: drain ${fmt(plan.drainEvents)} events, 1 consumer (scenario 2a)`,
        header: [
          'Library',
          'Instances',
          'Events/s',
          'Commits per delivery',
          'Ratio (nestjs-integration ÷ this)',
        ],
        rows: peerDrains.map((d) => {
          const own = peerDrains.find(
            (x) => x.subject === ownSubject.name && x.result.instances === d.result.instances,
          )!;
          return [
            d.subject,
            String(d.result.instances),
            med(d.result.eventsPerSec),
            fmt(d.result.commitsPerDelivery.median, 3),
            fmt(own.result.eventsPerSec.median / d.result.eventsPerSec.median, 2),
          ];
        }),
      });
      tables.push(
        latencyTable(
          `5b. Side by side: latency at a steady publish rate for ${plan.latencyMs / 1000} s (scenario 3)`,
          peerLatencies,
        ),
      );
      tables.push({
        title: '5c. How each library is configured',
        header: ['Library', 'Version', 'Configuration'],
        rows: subjects.map((s) => [s.name, s.version, s.configuration.join('<br>')]),
      });
      // pg-boss (issue 18, target 5): against the best of its majors, per instance count.
      for (const instances of [1, 2]) {
        const own = peerDrains.find(
          (x) => x.subject === ownSubject.name && x.result.instances === instances,
        )!;
        const bosses = peerDrains.filter(
          (x) => pgBosses.some((b) => b.name === x.subject) && x.result.instances === instances,
        );
        const best = bosses.reduce((a, b) =>
          b.result.eventsPerSec.median > a.result.eventsPerSec.median ? b : a,
        );
        const r = own.result.eventsPerSec.median / best.result.eventsPerSec.median;
        checks.push({
          target: `Drain 2a ≥ 2× the best pg-boss (${instances} instance${instances > 1 ? 's' : ''} each)`,
          measured: `${fmt(r, 2)}× against ${best.subject} (${fmt(own.result.eventsPerSec.median)} vs ${bosses.map((b) => `${b.subject} ${fmt(b.result.eventsPerSec.median)}`).join(', ')} events/s)`,
          pass: r >= 2,
        });
      }
      const own500 = peerLatencies.find((l) => l.subject === ownSubject.name && l.rate === 500);
      const bosses500 = peerLatencies.filter(
        (l) => pgBosses.some((b) => b.name === l.subject) && l.rate === 500,
      );
      if (own500 && bosses500.length) {
        const best = bosses500.reduce((a, b) => (b.toStart.p50 < a.toStart.p50 ? b : a));
        checks.push({
          target: "Latency p50 at 500/s ≤ 1/10 of the best pg-boss's (commit → handler start)",
          measured: `${ms(own500.toStart.p50)} ms = ${fmt(own500.toStart.p50 / best.toStart.p50, 3)}× ${best.subject}'s ${ms(best.toStart.p50)} ms (${bosses500.map((b) => `${b.subject} ${ms(b.toStart.p50)} ms, ${b.wakeUp}`).join('; ')})`,
          pass: own500.toStart.p50 <= best.toStart.p50 / 10,
        });
      }
      for (const peer of subjects.filter((x) => x !== ownSubject && !pgBosses.includes(x))) {
        for (const instances of [1, 2]) {
          const own = peerDrains.find(
            (x) => x.subject === ownSubject.name && x.result.instances === instances,
          )!;
          const other = peerDrains.find(
            (x) => x.subject === peer.name && x.result.instances === instances,
          )!;
          const r = own.result.eventsPerSec.median / other.result.eventsPerSec.median;
          checks.push({
            target: `Drain 2a ≥ 1.5× ${peer.name} (${instances} instance${instances > 1 ? 's' : ''} each)`,
            measured: `${fmt(r, 2)}× (${fmt(own.result.eventsPerSec.median)} vs ${fmt(other.result.eventsPerSec.median)} events/s)`,
            pass: r >= 1.5,
          });
        }
      }
    }

    // ── 6. Scale ───────────────────────────────────────────────────────────────────────────
    if (only.has('scale')) {
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
      results.scale = { empty, full, rss };
      tables.push({
        title: '6a. Claim statement latency (batch 100) vs retained processed rows',
        header: [
          'Processed rows retained',
          'Claim 100 p50 ms',
          'p99 ms',
          'Idle claim p50 ms',
          'p99 ms',
        ],
        rows: [
          [
            '0',
            ...[claim(empty, (r) => r.claim), claim(empty, (r) => r.idleClaim)].flatMap((p) => [
              ms(p.p50),
              ms(p.p99),
            ]),
          ],
          [
            fmt(plan.retained),
            ...[claim(full, (r) => r.claim), claim(full, (r) => r.idleClaim)].flatMap((p) => [
              ms(p.p50),
              ms(p.p99),
            ]),
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
      checks.push({
        target: `RSS growth while draining ${fmt(plan.rssEvents)} events ≤ 100 MB`,
        measured: `${fmt(growth.median, 1)} MiB`,
        pass: growth.median * 1.048576 <= 100,
      });
    }

    // ── 7. Admin ───────────────────────────────────────────────────────────────────────────
    if (only.has('admin')) {
      const runs = await repeat(
        plan.repeats,
        `7a admin listDeliveries, ${fmt(plan.adminDeadLetters)} dead letters`,
        () => adminListLatency(server, plan.adminDeadLetters, plan.adminIterations),
      );
      results.admin = runs;
      const listing = (name: (typeof ADMIN_LISTINGS)[number]): Percentiles =>
        medianPercentiles(runs.map((r) => r.listings[name]));
      tables.push({
        title: `7a. Admin listDeliveries (page of 50) with ${fmt(plan.adminDeadLetters)} dead letters`,
        header: ['Listing', 'p50 ms', 'p95 ms', 'p99 ms'],
        rows: ADMIN_LISTINGS.map((name) => {
          const p = listing(name);
          return [name, ms(p.p50), ms(p.p95), ms(p.p99)];
        }),
      });
      const worst = Math.max(...ADMIN_LISTINGS.map((name) => listing(name).p95));
      checks.push({
        target: `Admin listing p95 < 50 ms with ${fmt(plan.adminDeadLetters)} dead letters (every listing of 7a)`,
        measured: `${ms(worst)} ms (worst p95)`,
        pass: worst < 50,
      });
    }

    // ── 8. Fairness across tenants ─────────────────────────────────────────────────────────
    if (only.has('fairness')) {
      const runs = await repeat(
        plan.repeats,
        `8 fairness: noisy tenant ${fmt(plan.fairnessNoisyEvents)} events in bulk, quiet tenant ${plan.fairnessQuietRate}/s`,
        () =>
          fairness(server, {
            noisyEvents: plan.fairnessNoisyEvents,
            quietRate: plan.fairnessQuietRate,
          }),
      );
      results.fairness = runs;
      const quiet = medianPercentiles(runs.map((r) => r.quietToStart));
      const noisy = medianPercentiles(runs.map((r) => r.noisyToStart));
      const batchTx = medianPercentiles(runs.map((r) => r.batchTxMs));
      const batchMs = median(runs.map((r) => r.batchMs));
      tables.push({
        title: `8. Fairness: a noisy tenant's ${fmt(plan.fairnessNoisyEvents)} events in bulk, a quiet tenant's ${plan.fairnessQuietRate}/s meanwhile (library defaults: batch 100, concurrency 2, LISTEN)`,
        note: 'Latency: publishing COMMIT returned → handler start. One batch: how long a batch holds one of the 2 slots while the backlog drains (2 × 100 / drain rate: claim, handlers, commit, settle); the consumer transaction alone is the next row. Drain: first noisy commit → last noisy event handled.',
        header: ['Figure', 'p50', 'p99', 'max'],
        rows: [
          [
            'quiet tenant, commit → handler start (ms)',
            ms(quiet.p50),
            ms(quiet.p99),
            ms(quiet.max),
          ],
          [
            'noisy tenant, commit → handler start (ms)',
            ms(noisy.p50),
            ms(noisy.p99),
            ms(noisy.max),
          ],
          ['one batch, slot time (ms)', ms(batchMs), '', ''],
          [
            'one batch, consumer transaction (ms)',
            ms(batchTx.p50),
            ms(batchTx.p99),
            ms(batchTx.max),
          ],
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
    }

    // ── Sweeps for the charts ──────────────────────────────────────────────────────────────
    if (only.has('sweep')) {
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
      results.sweep = { batch, knobs, rates };
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
      const machine = describeMachine();
      const charts = await writeCharts(
        {
          batch,
          rates: rates.map((r) => ({
            rate: r.rate,
            p50: r.toStart.p50,
            p95: r.toStart.p95,
            p99: r.toStart.p99,
          })),
          caption: `${startedAt.toISOString().slice(0, 10)}, ${machine.cpus} cores, ${pg.version.split(' on ')[0]}${plan.quick ? ' (quick run)' : ''}`,
        },
        path.resolve(__dirname, '..', '..', 'docs', 'images'),
      );
      log(`charts: ${charts.map((c) => path.relative(process.cwd(), c)).join(', ')}`);
    }

    // ── 9. Relays to brokers ───────────────────────────────────────────────────────────────
    if (only.has('relay')) {
      const throughput: Array<{ broker: string; instances: number; runs: RelayThroughputRun[] }> =
        [];
      for (const broker of RELAY_BROKERS) {
        for (const instances of [1, 2]) {
          throughput.push({
            broker,
            instances,
            runs: await repeat(
              plan.repeats,
              `9a relay ${fmt(plan.relayEvents)} events to ${broker}, ${instances} relaying instance(s)`,
              () => relayThroughput(server, broker, instances, plan.relayEvents),
            ),
          });
        }
      }
      const latency: Array<{ broker: string; rate: number; runs: LatencyFigures[] }> = [];
      for (const broker of RELAY_BROKERS) {
        for (const rate of plan.relayRates) {
          latency.push({
            broker,
            rate,
            runs: await repeat(
              plan.repeats,
              `9b end-to-end latency through ${broker} at ${rate}/s`,
              () =>
                relayLatency(server, broker, {
                  rate,
                  durationMs: plan.relayLatencyMs,
                  maxWaitMs: plan.latencyMaxWaitMs,
                }),
            ),
          });
        }
      }
      results.relay = { throughput, latency };
      tables.push({
        title: `9a. Relay throughput: ${fmt(plan.relayEvents)} outbox events published to the broker`,
        note: 'Events/s from the relaying processors starting to the relay consumer’s last delivery marked processed; each publish awaits the broker’s acknowledgement (JetStream PubAck, RabbitMQ publisher confirm). Relaying instances are separate Nest apps with their own pools, in one process. Broker messages: what the stream / bound queue holds afterwards.',
        header: ['Broker', 'Relaying instances', 'Events/s', 'Broker messages'],
        rows: throughput.map((t) => [
          t.broker,
          String(t.instances),
          med(summarize(t.runs.map((r) => r.eventsPerSec))),
          fmt(median(t.runs.map((r) => r.brokerMessages))),
        ]),
      });
      tables.push({
        title: `9b. End-to-end latency through the broker at ${plan.relayRates.join(' and ')} business transactions/s`,
        note: 'Milliseconds from the publishing transaction’s COMMIT returning (app A: processor with LISTEN, one relay consumer) to the consuming handler’s transaction committing with its inbox mark (app B: IntegrationInboundModule with its default concurrency of 16, its own database). Delivered: share of the measured events handled by the end of the wait.',
        header: [
          'Broker',
          'Rate/s',
          'Achieved/s',
          'p50 ms',
          'p95 ms',
          'p99 ms',
          'max ms',
          'Delivered',
        ],
        rows: latency.map((l) => {
          const p = medianPercentiles(l.runs.map((r) => r.toCommit));
          const delivered =
            l.runs.reduce((a, r) => a + r.delivered, 0) /
            l.runs.reduce((a, r) => a + r.published, 0);
          return [
            l.broker,
            String(l.rate),
            med(summarize(l.runs.map((r) => r.achievedRate))),
            ms(p.p50),
            ms(p.p95),
            ms(p.p99),
            ms(Math.max(...l.runs.map((r) => r.toCommit.max))),
            `${fmt(delivered * 100, 1)} %`,
          ];
        }),
      });
    }

    const meta = {
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      mode: plan.quick ? 'quick' : 'full',
      repeats: plan.repeats,
      machine: describeMachine(),
      postgres: {
        server: server.description,
        version: pg.version,
        settings: pg.settings,
        embeddedSettings: server.embedded ? EMBEDDED_BENCH_SETTINGS : undefined,
      },
      plan,
    };
    const md = renderMarkdown(meta, tables, checks);
    const dir = path.resolve(__dirname, '..', '..', 'bench', 'results');
    await mkdir(dir, { recursive: true });
    await writeFile(
      path.join(dir, 'latest.json'),
      JSON.stringify({ meta, checks, results }, null, 2) + '\n',
    );
    await writeFile(path.join(dir, 'latest.md'), md);
    process.stdout.write(md);
    log(`wrote ${path.relative(process.cwd(), path.join(dir, 'latest.md'))} and latest.json`);
  } finally {
    await server.stop();
  }
}

function latencyTable(title: string, rows: readonly LatencyResult[]): Table {
  return {
    title,
    note: 'Milliseconds from the publishing transaction’s COMMIT returning to the handler starting / to the handler’s transaction committing, after a warm-up. Percentiles are medians over repeats; max is the worst of all. Delivered: share of the measured events handled by the end of the wait; below 100 % the library could not keep up, and its percentiles only cover what it delivered.',
    header: [
      'Library',
      'Wake-up',
      'Rate/s (achieved)',
      'Delivered',
      'start p50',
      'p95',
      'p99',
      'max',
      'commit p50',
      'p95',
      'p99',
      'max',
    ],
    rows: rows.map((l) => [
      l.subject,
      l.wakeUp,
      `${fmt(l.rate)} (${fmt(l.achievedRate.median)})`,
      `${fmt(
        (l.runs.reduce((n, r) => n + r.delivered, 0) /
          Math.max(
            1,
            l.runs.reduce((n, r) => n + r.published, 0),
          )) *
          100,
        1,
      )} %`,
      ...[l.toStart, l.toCommit].flatMap((p) => [ms(p.p50), ms(p.p95), ms(p.p99), ms(p.max)]),
    ]),
  };
}

function renderMarkdown(
  meta: {
    startedAt: string;
    mode: string;
    repeats: number;
    machine: Record<string, string | number>;
    postgres: { server: string; version: string; settings: Record<string, string> };
  },
  tables: readonly Table[],
  checks: readonly TargetCheck[],
): string {
  const m = meta.machine;
  const settings = Object.entries(meta.postgres.settings)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return [
    '# Benchmark results',
    '',
    `Run ${meta.startedAt} (${meta.mode}, ${meta.repeats} repeat${meta.repeats > 1 ? 's' : ''} per figure: median, ±half the min–max spread).`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}.`,
    `PostgreSQL: ${meta.postgres.version} — ${meta.postgres.server}.`,
    `Settings: ${settings}.`,
    '',
    ...(checks.length ? [renderTargets(checks), ''] : []),
    ...tables.flatMap((t) => [renderTable(t), '']),
  ].join('\n');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
