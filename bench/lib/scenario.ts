/**
 * What every scenario under bench/scenarios/ implements, and what the runner (run.ts) hands it.
 * A scenario measures, builds its tables and checks its targets; the runner only picks the
 * scenarios to run, runs them in order and merges their reports.
 */
import type { ChartData } from './charts';
import type { Plan } from './plan';
import type { Table, TargetCheck } from './report';
import type { BenchServer } from './server';
import type { Summary } from './stats';
import type { DrainResult, LatencyResult } from './summaries';

/**
 * Figures a scenario measures that later scenarios (or `--baseline`) compare against. Each is
 * set only when the scenario measuring it ran, earlier in the same run.
 */
export interface SharedFigures {
  /** limit (1a): one-row commit latency p50 at 1 connection, ms; latency targets are multiples of it. */
  readonly commit1?: Summary;
  /** limit (1b): the bare claim-and-complete loop's best events/s over 1–4 connections. */
  readonly bareBest?: number;
  /** limit (1c): the same with the handler's inserts done by hand. */
  readonly bareHandlerBest?: number;
  /** limit (1d): the same with those inserts pipelined. */
  readonly barePipelinedBest?: number;
  /** drain (2a, 2b): the throughput-profile drains; peers reuse 2a's, `--baseline` compares. */
  readonly drains?: readonly DrainResult[];
  /** latency (3): LISTEN at the library defaults; peers reuse them, `--baseline` compares. */
  readonly ownLatency?: readonly LatencyResult[];
}

/** Runs `fn` `times` times in sequence, logging `label` with the repeat's number before each. */
export type Repeat = <T>(
  times: number,
  label: string,
  fn: (i: number) => Promise<T>,
) => Promise<T[]>;

/** What a scenario is given to run. */
export interface ScenarioContext {
  readonly server: BenchServer;
  readonly plan: Plan;
  /** What the scenarios before this one measured. */
  readonly figures: SharedFigures;
  readonly repeat: Repeat;
  /** A progress line on stderr. */
  readonly log: (message: string) => void;
}

/** What a scenario found: merged by the runner in scenario order. */
export interface ScenarioReport {
  /** Keys of `results` in bench/results/latest.json (every run of every figure). */
  readonly results: Readonly<Record<string, unknown>>;
  /** Tables of latest.md, in order. */
  readonly tables: readonly Table[];
  /** Targets checked, in order. */
  readonly checks: readonly TargetCheck[];
  /** Figures for the scenarios after this one. */
  readonly figures?: SharedFigures;
  /** Points of docs/images' charts (the sweep's), which the runner renders. */
  readonly charts?: Omit<ChartData, 'caption'>;
}

/** One scenario of `npm run bench`, selected by `name` in `--only`. */
export interface Scenario {
  /** Its name in `--only` (and in the usage line). */
  readonly name: string;
  /** Runs only when named in `--only` (it needs more than PostgreSQL, e.g. brokers). */
  readonly optIn?: boolean;
  run(ctx: ScenarioContext): Promise<ScenarioReport>;
}
