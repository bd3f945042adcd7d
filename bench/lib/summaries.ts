/**
 * Drain and latency figures summarized over repeats, as the drain, latency, peers and sweep
 * scenarios report them, and the latency table they share.
 */
import { fmt, ms, type Table } from './report';
import { medianPercentiles, summarize, type Percentiles, type Summary } from './stats';
import type { BenchSubject, DrainFigures, LatencyFigures } from './workload';

/** The repeats of one drain configuration and their summaries. */
export interface DrainResult {
  readonly consumers: number;
  readonly instances: number;
  readonly runs: DrainFigures[];
  readonly eventsPerSec: Summary;
  readonly deliveriesPerSec: Summary;
  readonly commitsPerDelivery: Summary;
}

/** The repeats of one latency configuration and their summaries. */
export interface LatencyResult {
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

export function drainResult(
  consumers: number,
  instances: number,
  runs: DrainFigures[],
): DrainResult {
  return {
    consumers,
    instances,
    runs,
    eventsPerSec: summarize(runs.map((r) => r.eventsPerSec)),
    deliveriesPerSec: summarize(runs.map((r) => r.deliveriesPerSec)),
    commitsPerDelivery: summarize(runs.map((r) => r.commitsPerDelivery)),
  };
}

export function latencyResult(
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

/** Commit → handler start and commit → handler commit percentiles, one row per latency result. */
export function latencyTable(title: string, rows: readonly LatencyResult[]): Table {
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
