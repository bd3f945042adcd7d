import type { Pool, PoolClient } from 'pg';
import type { Percentiles } from './stats';
import { nowMs, sleep } from './stats';
import type { BenchServer } from './server';

/**
 * The work every subject (this library and its peers) does, defined once so the figures compare
 * like with like: a one-row business INSERT commits with the event; the handler inserts one
 * projection row per (event, consumer) in its transaction.
 */
export const WORKLOAD_DDL = `
  CREATE TABLE IF NOT EXISTS bench_order (
    id bigserial PRIMARY KEY,
    customer text NOT NULL,
    amount integer NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
  );
  CREATE TABLE IF NOT EXISTS bench_projection (
    event_id text NOT NULL,
    consumer text NOT NULL,
    order_id bigint NOT NULL,
    amount integer NOT NULL,
    PRIMARY KEY (event_id, consumer)
  );`;

/** The event name every subject publishes. */
export const EVENT_NAME = 'order.placed';

/** The payload of event `n` (about 100 bytes of JSON). */
export function payloadFor(orderId: number): {
  orderId: number;
  customer: string;
  amount: number;
  note: string;
} {
  return {
    orderId,
    customer: `customer-${orderId % 1000}`,
    amount: (orderId % 97) + 1,
    note: 'benchmark order',
  };
}

/** The business write of one transaction: returns the new order id. */
export async function insertOrder(client: PoolClient, n: number): Promise<number> {
  const p = payloadFor(n);
  const { rows } = await client.query<{ id: string }>(
    'INSERT INTO bench_order (customer, amount) VALUES ($1, $2) RETURNING id',
    [p.customer, p.amount],
  );
  return Number(rows[0]!.id);
}

/** Consumer names, `c1`…`cN`. */
export function consumerNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `c${i + 1}`);
}

/** Scenario 2 figures of one run. */
export interface DrainFigures {
  readonly events: number;
  readonly consumers: number;
  readonly instances: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
  readonly deliveriesPerSec: number;
  /** Committed transactions (pg_stat_database.xact_commit) per delivered (event, consumer). */
  readonly commitsPerDelivery: number;
  /** Peak RSS of the processing process(es), MiB, when sampled. */
  readonly peakRssMiB?: number;
  /**
   * CPU time (user + system) the processing process(es) spent from start to stop, per
   * delivered (event, consumer), µs: what a feature costs, less disturbed than a rate by
   * whatever else the machine runs.
   */
  readonly cpuUsPerDelivery?: number;
  /**
   * True when the run hit `maxSeconds` before the backlog was drained: the rates are then
   * `completed` deliveries over the capped time.
   */
  readonly capped?: boolean;
  readonly completed?: number;
}

/** Scenario 3 figures of one run. */
export interface LatencyFigures {
  readonly targetRate: number;
  readonly achievedRate: number;
  readonly seconds: number;
  readonly published: number;
  readonly delivered: number;
  /** Publishing transaction's COMMIT returned → handler started (ms). */
  readonly toStart: Percentiles;
  /** Publishing transaction's COMMIT returned → the handler's transaction committed (ms). */
  readonly toCommit: Percentiles;
}

/** What a compared library implements for the side-by-side scenarios (2a, 3). */
export interface BenchSubject {
  readonly name: string;
  readonly version: string;
  /** Whether it can be woken by LISTEN/NOTIFY (otherwise `listen` makes no difference). */
  readonly listenSupported: boolean;
  /** How the subject is configured, in words, for the results file. */
  readonly configuration: readonly string[];
  drain(
    server: BenchServer,
    options: { events: number; consumers: number; instances: number; maxSeconds?: number },
  ): Promise<DrainFigures>;
  latency(
    server: BenchServer,
    options: { rate: number; durationMs: number; listen: boolean; maxWaitMs?: number },
  ): Promise<LatencyFigures>;
}

/** Inserts `count` events in business transactions of `perTx` each, `concurrency` at a time. */
export async function seedInTransactions(
  pool: Pool,
  count: number,
  perTx: number,
  concurrency: number,
  publish: (client: PoolClient, first: number, n: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (;;) {
      const first = next;
      if (first >= count) return;
      const n = Math.min(perTx, count - first);
      next += n;
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await publish(client, first, n);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        client.release();
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
}

/**
 * Open-loop publisher: starts `rate` business transactions per second, whatever the previous
 * ones are doing (up to the pool's size in flight), for a warm-up (default: a fifth of the
 * duration, at most 3 s: connections, prepared statements, JIT) and then for `durationMs`. Each
 * runs `fn` inside BEGIN…COMMIT and returns the event id it published; the result maps the ids
 * of the measured phase to the moment COMMIT returned (ms since the epoch, {@link nowMs}).
 */
export async function publishAtRate(
  pool: Pool,
  rate: number,
  durationMs: number,
  fn: (client: PoolClient, n: number) => Promise<string>,
  warmupMs = Math.min(3_000, Math.round(durationMs / 5)),
): Promise<{ commits: Map<string, number>; seconds: number; errors: number; total: number }> {
  const commits = new Map<string, number>();
  let total = 0;
  const started = nowMs();
  const measureFrom = started + warmupMs;
  let issued = 0;
  let errors = 0;
  const inflight = new Set<Promise<void>>();
  const one = async (n: number, measured: boolean): Promise<void> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const id = await fn(client, n);
      await client.query('COMMIT');
      total++;
      if (measured) commits.set(id, nowMs());
    } catch {
      errors++;
      await client.query('ROLLBACK').catch(() => undefined);
    } finally {
      client.release();
    }
  };
  while (nowMs() - started < warmupMs + durationMs) {
    const due = Math.floor(((nowMs() - started) / 1000) * rate);
    while (issued < due) {
      const p = one(issued++, nowMs() >= measureFrom);
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
    }
    await sleep(1);
  }
  await Promise.all(inflight);
  // total: every committed transaction, warm-up included (what consumers must handle).
  return { commits, seconds: (nowMs() - measureFrom) / 1000, errors, total };
}

/** Joins the publisher's commit times with the consumer's start/commit times. */
export function latencyFigures(
  targetRate: number,
  published: { commits: Map<string, number>; seconds: number },
  observed: Iterable<readonly [id: string, startAt: number, commitAt: number]>,
  summarize: (values: number[]) => Percentiles,
): LatencyFigures {
  const toStart: number[] = [];
  const toCommit: number[] = [];
  for (const [id, startAt, commitAt] of observed) {
    const committed = published.commits.get(id);
    if (committed === undefined) continue;
    // Not clamped: a handler can start a hair before the publisher sees its COMMIT return.
    toStart.push(startAt - committed);
    toCommit.push(commitAt - committed);
  }
  return {
    targetRate,
    achievedRate: published.commits.size / published.seconds,
    seconds: published.seconds,
    published: published.commits.size,
    delivered: toStart.length,
    toStart: summarize(toStart),
    toCommit: summarize(toCommit),
  };
}
