/**
 * Scenario 2: this library drains a backlog (2a one consumer, 2b three), with metrics and
 * tracing off and on (2c), the consumer stats recorder off and on (2d), and through each of its
 * database adapters (2e); targets against the bare loops of scenario 1.
 */
import { BENCH_ADAPTERS, type BenchAdapter } from '../lib/bench-orm';
import { fmt, instancesText, med, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { median } from '../lib/stats';
import { drainResult, type DrainResult } from '../lib/summaries';
import type { DrainFigures } from '../lib/workload';
import { THROUGHPUT_PROFILE, drainOwn, tunedProfile } from '../subjects/nestjs-integration';

export const drainScenario: Scenario = {
  name: 'drain',
  async run({ server, plan, figures, repeat }) {
    const { bareBest, bareHandlerBest, barePipelinedBest } = figures;
    const results: Record<string, unknown> = {};
    const tables: Table[] = [];
    const checks: TargetCheck[] = [];
    const drains: DrainResult[] = [];
    const drainDefaults = drainResult(
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
      rows: [{ ...drainDefaults, label: '2a defaults' }, ...drains].map((d) => [
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
    checks.push({
      target: 'Drain 2a (1 instance, library defaults) ≥ 5,000 events/s',
      measured: `${fmt(drainDefaults.eventsPerSec.median)} events/s`,
      pass: drainDefaults.eventsPerSec.median >= 5_000,
    });
    for (const d of drains.filter((x) => x.consumers === 1)) {
      checks.push({
        target: `Drain 2a (${instancesText(d.instances)}) ≥ 5,000 events/s`,
        measured: `${fmt(d.eventsPerSec.median)} events/s`,
        pass: d.eventsPerSec.median >= 5_000,
      });
      if (bareBest) {
        checks.push({
          target: `Drain 2a (${instancesText(d.instances)}) ≥ 40 % of the bare claim-and-complete ceiling`,
          measured:
            `${fmt((d.eventsPerSec.median / bareBest) * 100)} % of ${fmt(bareBest)} events/s (best of 1–4 connections)` +
            (barePipelinedBest
              ? `; the pipelined hand-written floor 1d reaches ${fmt((barePipelinedBest / bareBest) * 100)} %`
              : ''),
          pass: d.eventsPerSec.median / bareBest >= 0.4,
        });
      }
      checks.push({
        target: `Drain 2a (${instancesText(d.instances)}) commits per delivered event ≤ 0.1`,
        measured: fmt(d.commitsPerDelivery.median, 3),
        pass: d.commitsPerDelivery.median <= 0.1,
      });
    }
    return { results, tables, checks, figures: { drains } };
  },
};
