/**
 * `npm run bench [-- --quick] [-- --only=limit,drain,...] [-- --repeats=N] [-- --baseline=<rev>]`
 *
 * Runs the selected scenarios in order against one PostgreSQL (embedded with durability on, or
 * DATABASE_URL), each run in a fresh database, and writes bench/results/latest.json and
 * latest.md (and docs/images' charts when the sweep ran). Each scenario is a file under
 * scenarios/ (see lib/scenario.ts); adding one is that file and a line in SCENARIOS.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { baselineComparison } from './lib/baseline';
import { writeCharts, type ChartData } from './lib/charts';
import { FULL, QUICK, type Plan } from './lib/plan';
import { renderTable, renderTargets, type Table, type TargetCheck } from './lib/report';
import type { Scenario, ScenarioReport, SharedFigures } from './lib/scenario';
import { BenchServer, EMBEDDED_BENCH_SETTINGS, describeMachine } from './lib/server';
import { adminScenario } from './scenarios/admin';
import { drainScenario } from './scenarios/drain';
import { fairnessScenario } from './scenarios/fairness';
import { latencyScenario } from './scenarios/latency';
import { limitScenario } from './scenarios/limit';
import { peersScenario } from './scenarios/peers';
import { publishScenario } from './scenarios/publish';
import { relayScenario } from './scenarios/relay';
import { scaleScenario } from './scenarios/scale';
import { sustainedScenario } from './scenarios/sustained';
import { sweepScenario } from './scenarios/sweep';

/**
 * Every scenario, in the order they run: their tables in latest.md, their keys in latest.json
 * and their targets follow it, and a scenario sees the shared figures of those before it.
 */
const SCENARIOS: readonly Scenario[] = [
  limitScenario,
  drainScenario,
  latencyScenario,
  publishScenario,
  peersScenario,
  scaleScenario,
  adminScenario,
  fairnessScenario,
  sweepScenario,
  sustainedScenario,
  relayScenario,
];
const NAMES = SCENARIOS.map((s) => s.name);
/** `--baseline` runs right after this scenario (whether selected or not): it compares drain and latency. */
const BASELINE_AFTER = latencyScenario;

function parseArgs(argv: readonly string[]): {
  plan: Plan;
  only: Set<string>;
  baseline?: string;
} {
  let plan = FULL;
  let baseline: string | undefined;
  let only = new Set(SCENARIOS.filter((s) => !s.optIn).map((s) => s.name));
  let repeats: number | undefined;
  for (const arg of argv) {
    if (arg === '--quick') plan = QUICK;
    else if (arg.startsWith('--only=')) {
      const names = arg.slice('--only='.length).split(',').filter(Boolean);
      const unknown = names.filter((n) => !NAMES.includes(n));
      if (unknown.length)
        throw new Error(`Unknown scenario(s) ${unknown.join(', ')}; known: ${NAMES.join(', ')}`);
      only = new Set(names);
    } else if (arg.startsWith('--baseline=')) {
      baseline = arg.slice('--baseline='.length);
      if (!/^[\w./~^-]+$/.test(baseline)) throw new Error('--baseline must be a git revision');
    } else if (arg.startsWith('--repeats=')) {
      repeats = Number(arg.slice('--repeats='.length));
      if (!Number.isInteger(repeats) || repeats < 1)
        throw new Error('--repeats must be a positive integer');
    } else
      throw new Error(
        `Unknown argument ${arg}. Usage: npm run bench [-- --quick] [--only=${NAMES.join(',')}] [--repeats=N] [--baseline=<git rev>]`,
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

async function main(): Promise<void> {
  const { plan, only, baseline } = parseArgs(process.argv.slice(2));
  const startedAt = new Date();
  const server = await BenchServer.start();
  const results: Record<string, unknown> = {};
  const tables: Table[] = [];
  const checks: TargetCheck[] = [];
  let figures: SharedFigures = {};
  let charts: ScenarioReport['charts'];
  const run = async (scenario: Scenario): Promise<void> => {
    const report = await scenario.run({ server, plan, figures, repeat, log });
    Object.assign(results, report.results);
    tables.push(...report.tables);
    checks.push(...report.checks);
    figures = { ...figures, ...report.figures };
    charts = report.charts ?? charts;
  };
  try {
    const pg = await server.describe();
    log(`PostgreSQL: ${pg.version}`);
    for (const scenario of SCENARIOS) {
      if (only.has(scenario.name)) await run(scenario);
      if (baseline && scenario === BASELINE_AFTER) await run(baselineComparison(baseline));
    }
    if (charts) {
      const machine = describeMachine();
      const data: ChartData = {
        ...charts,
        caption: `${startedAt.toISOString().slice(0, 10)}, ${machine.cpus} cores, ${pg.version.split(' on ')[0]}${plan.quick ? ' (quick run)' : ''}`,
      };
      const files = await writeCharts(data, path.resolve(__dirname, '..', '..', 'docs', 'images'));
      log(`charts: ${files.map((c) => path.relative(process.cwd(), c)).join(', ')}`);
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
