import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fmt, ms, type Table, type TargetCheck } from './report';
import type { Scenario } from './scenario';

/** The figures of a baseline run that a comparison reads (its latest.json, loosely typed). */
export interface BaselineResults {
  readonly rev: string;
  readonly commit: string;
  readonly drain?: ReadonlyArray<{
    readonly consumers: number;
    readonly instances: number;
    readonly eventsPerSec: { readonly median: number };
    readonly deliveriesPerSec: { readonly median: number };
  }>;
  readonly latency?: ReadonlyArray<{
    readonly rate: number;
    readonly listen: boolean;
    readonly toStart: { readonly p50: number; readonly p99: number };
  }>;
}

const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Builds git revision `rev` of this repository in a temporary folder (its files from
 * `git archive`, this checkout's `node_modules` and generated Prisma client, compiled with its
 * own tsconfig) and runs its own benchmark (`dist/bench/run.js --only=drain,latency`) against the
 * server at `adminUrl`, so a before/after comparison runs on one server in one run. Returns the
 * figures it wrote. The revision must build with today's dependencies.
 */
export async function runBaseline(
  rev: string,
  adminUrl: string,
  options: { repeats: number; quick: boolean; log: (message: string) => void },
): Promise<BaselineResults> {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  const dir = await mkdtemp(path.join(tmpdir(), `ni-baseline-${commit.slice(0, 8)}-`));
  try {
    options.log(`baseline ${rev} (${commit.slice(0, 12)}): building in ${dir}`);
    execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], { cwd: ROOT });
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const generated = path.join(ROOT, 'src', 'generated');
    if (existsSync(generated))
      await cp(generated, path.join(dir, 'src', 'generated'), { recursive: true });
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: dir,
        stdio: 'inherit',
      },
    );
    execFileSync(process.execPath, ['scripts/copy-assets.js'], { cwd: dir, stdio: 'ignore' });
    options.log(`baseline ${rev}: running its drain and latency scenarios`);
    const args = [
      '--expose-gc',
      path.join(dir, 'dist', 'bench', 'run.js'),
      '--only=drain,latency',
      `--repeats=${options.repeats}`,
      ...(options.quick ? ['--quick'] : []),
    ];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, args, {
        cwd: dir,
        env: { ...process.env, DATABASE_URL: adminUrl },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`baseline bench exited with ${code}`)),
      );
    });
    const json = JSON.parse(
      await readFile(path.join(dir, 'bench', 'results', 'latest.json'), 'utf8'),
    ) as { results: Omit<BaselineResults, 'rev' | 'commit'> };
    return { rev, commit, drain: json.results.drain, latency: json.results.latency };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * `--baseline=<rev>`: runs revision `rev`'s own drain and latency scenarios on the same server
 * and compares them with this checkout's (the figures of its drain and latency scenarios, when
 * they ran): a before/after table and targets. Not selectable by `--only`; the runner runs it
 * after this checkout's latency scenario.
 */
export function baselineComparison(rev: string): Scenario {
  return {
    name: 'baseline',
    async run({ server, plan, figures, log }) {
      const before = await runBaseline(rev, server.adminUrl, {
        repeats: plan.repeats,
        quick: plan.quick,
        log,
      });
      const ownDrain = figures.drains ?? [];
      const ownLatency = figures.ownLatency ?? [];
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
      const table: Table = {
        title: `Before/after: ${rev} (${before.commit.slice(0, 12)}) and this checkout, same server, same run`,
        header: ['Figure', 'before', 'after', 'after / before'],
        note: 'Drains: the throughput profile of scenario 2. Latency: library defaults, commit → handler start. The baseline ran its own scenarios 2 and 3 from its own build.',
        rows,
      };
      const checks: TargetCheck[] = [];
      const was2a = drainOf(before.drain ?? [], 1, 1);
      const now2a = drainOf(ownDrain, 1, 1);
      if (was2a && now2a) {
        checks.push({
          target: `Drain 2a (1 instance) within 10 % of ${rev}`,
          measured: ratio(now2a.eventsPerSec.median, was2a.eventsPerSec.median),
          pass: now2a.eventsPerSec.median >= 0.9 * was2a.eventsPerSec.median,
        });
      }
      const was2b = drainOf(before.drain ?? [], 3, 1);
      const now2b = drainOf(ownDrain, 3, 1);
      if (was2b && now2b) {
        checks.push({
          target: `Drain 2b (3 consumers, 1 instance) deliveries/s not lower than ${rev}`,
          measured: ratio(now2b.deliveriesPerSec.median, was2b.deliveriesPerSec.median),
          pass: now2b.deliveriesPerSec.median >= was2b.deliveriesPerSec.median,
        });
      }
      const l500 = ownLatency.find((l) => l.rate === 500);
      const was500 = before.latency?.find((b) => b.listen && b.rate === 500);
      if (l500 && was500) {
        checks.push({
          target: `Latency 500/s with LISTEN: p50 ≤ 1.2× ${rev}'s`,
          measured: ratio(l500.toStart.p50, was500.toStart.p50),
          pass: l500.toStart.p50 <= 1.2 * was500.toStart.p50,
        });
      }
      return { results: { baseline: before }, tables: [table], checks };
    },
  };
}
