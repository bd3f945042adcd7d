import type { Pool } from 'pg';
import { fmt, med, ms, type Table } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { benchPool, type BenchServer } from '../lib/server';
import { nowMs, percentiles, summarize, type Percentiles, type Summary } from '../lib/stats';
import { WORKLOAD_DDL } from '../lib/workload';

/** Scenario 1a figures of one run. */
export interface CommitRun {
  readonly connections: number;
  readonly commitsPerSec: number;
  /** Latency of one BEGIN; INSERT; COMMIT, ms. */
  readonly latency: Percentiles;
}

/** Runs `connections` closed loops of `body` for `durationMs`; returns count and per-call latencies. */
export async function closedLoops(
  pool: Pool,
  connections: number,
  durationMs: number,
  body: (client: import('pg').PoolClient, n: number) => Promise<void>,
): Promise<{ count: number; seconds: number; latencies: number[] }> {
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  const latencies: number[] = [];
  let n = 0;
  const start = nowMs();
  const end = start + durationMs;
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (nowMs() < end) {
          const t = nowMs();
          await body(client, n++);
          latencies.push(nowMs() - t);
        }
      }),
    );
  } finally {
    clients.forEach((c) => c.release());
  }
  return { count: latencies.length, seconds: (nowMs() - start) / 1000, latencies };
}

/** The one-row business transaction every publish-overhead figure is compared with. */
export async function oneRowTransaction(client: import('pg').PoolClient, n: number): Promise<void> {
  await client.query('BEGIN');
  await client.query('INSERT INTO bench_order (customer, amount) VALUES ($1, $2)', [
    `customer-${n % 1000}`,
    (n % 97) + 1,
  ]);
  await client.query('COMMIT');
}

/** 1a: commits/s of a one-row INSERT transaction at `connections`. */
export async function commitCeiling(
  server: BenchServer,
  connections: number,
  durationMs: number,
): Promise<CommitRun> {
  return server.withDatabase(
    `limit-commit-${connections}`,
    async (db) => {
      const pool = benchPool(db.url, connections);
      try {
        await pool.query(WORKLOAD_DDL);
        await closedLoops(pool, connections, Math.min(1000, durationMs / 4), oneRowTransaction); // warm-up
        const run = await closedLoops(pool, connections, durationMs, oneRowTransaction);
        return {
          connections,
          commitsPerSec: run.count / run.seconds,
          latency: percentiles(run.latencies),
        };
      } finally {
        await pool.end();
      }
    },
    { migrate: false },
  );
}

/**
 * The handler work of a bare-loop run: none (1b), the 2a handler's INSERTs one at a time (1c),
 * or the same INSERTs all sent at once on a pipelined connection (1d).
 */
export type BareHandler = 'none' | 'sequential' | 'pipelined';

/** The bare loops of scenario 1, in table order. */
export const BARE_HANDLERS: readonly BareHandler[] = ['none', 'sequential', 'pipelined'];

/** Scenario 1b figures of one run. */
export interface BareLoopRun {
  readonly connections: number;
  readonly handler: BareHandler;
  readonly events: number;
  readonly eventsPerSec: number;
}

/** The queue table of the bare loop: the columns and claim index a one-state outbox needs. */
const BARE_QUEUE_DDL = `CREATE TABLE bench_bare_queue (
    seq           bigserial   NOT NULL,
    id            uuid        PRIMARY KEY,
    event_name    text        NOT NULL,
    payload       jsonb       NOT NULL,
    status        text        NOT NULL DEFAULT 'pending',
    attempt_count integer     NOT NULL DEFAULT 0,
    locked_until  timestamptz,
    processed_at  timestamptz
  );
  CREATE INDEX bench_bare_queue_claim_idx ON bench_bare_queue (seq) WHERE status = 'pending'`;

/**
 * 1b: the bare SQL claim-and-complete loop on a minimal queue table (one row per event with its
 * status, as the outbox table was before per-consumer delivery): claim 100 due rows with FOR
 * UPDATE SKIP LOCKED (one UPDATE … RETURNING), then mark them processed (one UPDATE); no
 * handler, no inbox, no ordering, server-default (synchronous) commits.
 *
 * With `withHandler`, each claimed batch also runs the 2a handler's work by hand: one
 * transaction inserting one projection row per event (still no inbox, no ordering): the floor
 * for scenario 2a on this machine.
 */
export async function bareLoopCeiling(
  server: BenchServer,
  connections: number,
  events: number,
  handler: BareHandler = 'none',
): Promise<BareLoopRun> {
  return server.withDatabase(`limit-bare-${connections}`, async (db) => {
    const pool = benchPool(db.url, connections, { pipeline: handler === 'pipelined' });
    try {
      await pool.query(BARE_QUEUE_DDL);
      await pool.query(
        `INSERT INTO bench_bare_queue (id, event_name, payload)
         SELECT gen_random_uuid(), 'order.placed',
                jsonb_build_object('orderId', g, 'customer', 'customer-' || (g % 1000),
                                   'amount', g % 97 + 1, 'note', 'benchmark order')
           FROM generate_series(1, $1::int) g`,
        [events],
      );
      await pool.query(WORKLOAD_DDL);
      await pool.query('VACUUM ANALYZE bench_bare_queue');
      const start = nowMs();
      let done = 0;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          for (;;) {
            const { rows } = await pool.query<{
              id: string;
              payload: { orderId: number; amount: number };
            }>(
              `UPDATE bench_bare_queue SET status = 'processing', locked_until = now() + interval '30 seconds',
                      attempt_count = attempt_count + 1
                WHERE id IN (SELECT id FROM bench_bare_queue WHERE status = 'pending'
                              ORDER BY seq LIMIT 100 FOR UPDATE SKIP LOCKED)
               RETURNING id, event_name, payload`,
            );
            if (rows.length === 0) return;
            if (handler !== 'none') {
              const client = await pool.connect();
              const project = (r: (typeof rows)[number]): Promise<unknown> =>
                client.query(
                  'INSERT INTO bench_projection (event_id, consumer, order_id, amount) VALUES ($1, $2, $3, $4)',
                  [r.id, 'c1', r.payload.orderId, r.payload.amount],
                );
              try {
                await client.query('BEGIN');
                if (handler === 'pipelined') await Promise.all(rows.map(project));
                else for (const r of rows) await project(r);
                await client.query('COMMIT');
              } finally {
                client.release();
              }
            }
            await pool.query(
              `UPDATE bench_bare_queue SET status = 'processed', processed_at = now(), locked_until = NULL
                WHERE id = ANY($1::uuid[])`,
              [rows.map((r) => r.id)],
            );
            done += rows.length;
          }
        }),
      );
      const seconds = (nowMs() - start) / 1000;
      if (done !== events) throw new Error(`bare loop completed ${done} of ${events}`);
      return { connections, handler, events, eventsPerSec: events / seconds };
    } finally {
      await pool.end();
    }
  });
}

/** Scenario 1: the server's commit ceiling and the bare claim-and-complete loops (1a–1d). */
export const limitScenario: Scenario = {
  name: 'limit',
  async run({ server, plan, repeat }) {
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
    const bareRate = (c: number, handler: BareHandler): Summary =>
      summarize(
        bare
          .find((b) => b.connections === c && b.handler === handler)!
          .runs.map((r) => r.eventsPerSec),
      );
    const best = (handler: BareHandler): number =>
      Math.max(...[1, 2, 3, 4].map((c) => bareRate(c, handler).median));
    const tables: Table[] = [
      {
        title: '1a. Commit ceiling: one-row INSERT transactions',
        header: ['Connections', 'Commits/s', 'Latency p50 ms', 'p99 ms'],
        rows: commits.map((c) => [
          String(c.connections),
          med(summarize(c.runs.map((r) => r.commitsPerSec))),
          ms(summarize(c.runs.map((r) => r.latency.p50)).median),
          ms(summarize(c.runs.map((r) => r.latency.p99)).median),
        ]),
      },
      {
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
      },
    ];
    return {
      results: { limit: { commits, bare } },
      tables,
      checks: [],
      figures: {
        commit1: summarize(commits[0]!.runs.map((r) => r.latency.p50)),
        bareBest: best('none'),
        bareHandlerBest: best('sequential'),
        barePipelinedBest: best('pipelined'),
      },
    };
  },
};
