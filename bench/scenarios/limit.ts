import type { Pool } from 'pg';
import { benchPool, type BenchServer } from '../lib/server';
import { nowMs, percentiles, type Percentiles } from '../lib/stats';
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
