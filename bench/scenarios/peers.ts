/**
 * Scenario 5: this library beside its peers, each draining scenario 2a's backlog and keeping
 * scenario 3's publish rates (this library's figures are those of 2a and 3 when they ran).
 */
import { pgBoss12Subject, pgBossSubject } from '../peers/pg-boss';
import {
  transactionalOutboxSubject,
  transactionalOutboxTunedSubject,
} from '../peers/pg-transactional-outbox';
import { fmt, instancesText, med, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import {
  drainResult,
  latencyResult,
  latencyTable,
  type DrainResult,
  type LatencyResult,
} from '../lib/summaries';
import type { BenchSubject } from '../lib/workload';
import { ownSubject } from '../subjects/nestjs-integration';

/** The libraries side by side, this one first; a peer is one more line here. */
const SUBJECTS: readonly BenchSubject[] = [
  ownSubject,
  pgBossSubject,
  pgBoss12Subject,
  transactionalOutboxSubject,
  transactionalOutboxTunedSubject,
];
/** pg-boss's majors: the targets compare against the best of them. */
const PG_BOSSES: readonly BenchSubject[] = [pgBossSubject, pgBoss12Subject];

export const peersScenario: Scenario = {
  name: 'peers',
  async run({ server, plan, figures, repeat, log }) {
    const own2a = (figures.drains ?? []).filter((d) => d.consumers === 1);
    const ownLatency = figures.ownLatency ?? [];
    const peerDrains: Array<{ subject: string; result: DrainResult }> = [];
    const peerLatencies: LatencyResult[] = [];
    for (const subject of SUBJECTS) {
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
    const results = {
      peers: {
        subjects: SUBJECTS.map((s) => ({
          name: s.name,
          version: s.version,
          configuration: s.configuration,
        })),
        drains: peerDrains,
        latencies: peerLatencies,
      },
    };
    const tables: Table[] = [];
    const checks: TargetCheck[] = [];
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
      rows: SUBJECTS.map((s) => [s.name, s.version, s.configuration.join('<br>')]),
    });
    // pg-boss (issue 18, target 5): against the best of its majors, per instance count.
    for (const instances of [1, 2]) {
      const own = peerDrains.find(
        (x) => x.subject === ownSubject.name && x.result.instances === instances,
      )!;
      const bosses = peerDrains.filter(
        (x) => PG_BOSSES.some((b) => b.name === x.subject) && x.result.instances === instances,
      );
      const best = bosses.reduce((a, b) =>
        b.result.eventsPerSec.median > a.result.eventsPerSec.median ? b : a,
      );
      const r = own.result.eventsPerSec.median / best.result.eventsPerSec.median;
      checks.push({
        target: `Drain 2a ≥ 2× the best pg-boss (${instancesText(instances)} each)`,
        measured: `${fmt(r, 2)}× against ${best.subject} (${fmt(own.result.eventsPerSec.median)} vs ${bosses.map((b) => `${b.subject} ${fmt(b.result.eventsPerSec.median)}`).join(', ')} events/s)`,
        pass: r >= 2,
      });
    }
    const own500 = peerLatencies.find((l) => l.subject === ownSubject.name && l.rate === 500);
    const bosses500 = peerLatencies.filter(
      (l) => PG_BOSSES.some((b) => b.name === l.subject) && l.rate === 500,
    );
    if (own500 && bosses500.length) {
      const best = bosses500.reduce((a, b) => (b.toStart.p50 < a.toStart.p50 ? b : a));
      checks.push({
        target: "Latency p50 at 500/s ≤ 1/10 of the best pg-boss's (commit → handler start)",
        measured: `${ms(own500.toStart.p50)} ms = ${fmt(own500.toStart.p50 / best.toStart.p50, 3)}× ${best.subject}'s ${ms(best.toStart.p50)} ms (${bosses500.map((b) => `${b.subject} ${ms(b.toStart.p50)} ms, ${b.wakeUp}`).join('; ')})`,
        pass: own500.toStart.p50 <= best.toStart.p50 / 10,
      });
    }
    for (const peer of SUBJECTS.filter((x) => x !== ownSubject && !PG_BOSSES.includes(x))) {
      for (const instances of [1, 2]) {
        const own = peerDrains.find(
          (x) => x.subject === ownSubject.name && x.result.instances === instances,
        )!;
        const other = peerDrains.find(
          (x) => x.subject === peer.name && x.result.instances === instances,
        )!;
        const r = own.result.eventsPerSec.median / other.result.eventsPerSec.median;
        checks.push({
          target: `Drain 2a ≥ 1.5× ${peer.name} (${instancesText(instances)} each)`,
          measured: `${fmt(r, 2)}× (${fmt(own.result.eventsPerSec.median)} vs ${fmt(other.result.eventsPerSec.median)} events/s)`,
          pass: r >= 1.5,
        });
      }
    }
    return { results, tables, checks };
  },
};
