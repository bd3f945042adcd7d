/**
 * Scenario 3: commit → handler latency of this library at a steady publish rate, with LISTEN at
 * the defaults, with a NOTIFY on every publish, and polling only; targets against scenario 1a's
 * single commit.
 */
import { fmt, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { latencyResult, latencyTable, type LatencyResult } from '../lib/summaries';
import type { LatencyFigures } from '../lib/workload';
import { latencyOwn, ownSubject } from '../subjects/nestjs-integration';

const RATES = [500, 2_000] as const;

export const latencyScenario: Scenario = {
  name: 'latency',
  async run({ server, plan, figures, repeat }) {
    const { commit1 } = figures;
    const latencies: LatencyResult[] = [];
    // LISTEN at the defaults, LISTEN with a NOTIFY on every publish (notify.windowMs 0: what
    // the default was before issue 18), polling only. The modes alternate within each repeat,
    // so that drift (checkpoints and autovacuum after the scenarios before) hits them alike. A
    // full run that measured them one after another gave the first mode (the defaults) a p99
    // 4-10x the second's; alternating 30 s runs on a quieter machine gave about 1.5x.
    const modes = [
      { listen: true, wakeUp: undefined, notifyWindowMs: undefined },
      { listen: true, wakeUp: 'LISTEN, NOTIFY on every publish', notifyWindowMs: 0 },
      { listen: false, wakeUp: undefined, notifyWindowMs: undefined },
    ] as const;
    const label = (m: (typeof modes)[number]): string =>
      m.wakeUp ?? (m.listen ? 'LISTEN' : 'polling only');
    // runs[mode][rate]
    const runs = modes.map(() => RATES.map((): LatencyFigures[] => []));
    for (const [r, rate] of RATES.entries()) {
      await repeat(
        plan.repeats,
        `3 latency ${rate}/s, ${modes.map(label).join(', ')}`,
        async () => {
          for (const [m, { listen, notifyWindowMs }] of modes.entries()) {
            runs[m]![r]!.push(
              await latencyOwn(server, {
                rate,
                durationMs: plan.latencyMs,
                listen,
                notifyWindowMs,
              }),
            );
          }
        },
      );
    }
    modes.forEach((mode, m) =>
      RATES.forEach((rate, r) =>
        latencies.push(latencyResult(ownSubject, rate, mode.listen, runs[m]![r]!, mode.wakeUp)),
      ),
    );
    const ownLatency = latencies.filter((l) => l.listen && l.wakeUp === 'LISTEN');
    const tables: Table[] = [
      latencyTable(
        `3. Latency at a steady publish rate for ${plan.latencyMs / 1000} s (commit → handler)`,
        latencies,
      ),
    ];
    const checks: TargetCheck[] = [];
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
    return { results: { latency: latencies }, tables, checks, figures: { ownLatency } };
  },
};
