import type { ProcessorOptions, TransactionMode } from '../../src/integration';
import { createBenchApp, eventFor } from '../lib/integration-app';
import { waitUntilDrained } from '../lib/drain-watch';
import type { BenchObservability } from '../lib/observability';
import { benchPool, type BenchDatabase, type BenchServer } from '../lib/server';
import { nowMs, percentiles } from '../lib/stats';
import { startWorker, workerScript, type WorkerHandle } from '../lib/worker';
import {
  WORKLOAD_DDL,
  latencyFigures,
  publishAtRate,
  seedInTransactions,
  type BenchSubject,
  type DrainFigures,
  type LatencyFigures,
} from '../lib/workload';
import type {
  ProcessorSample,
  ProcessorWorkerArgs,
  ProcessorWorkerResult,
} from '../workers/processor.worker';
import { packageVersion } from '../lib/versions';
import type { BenchAdapter } from '../lib/bench-orm';

/** Knobs of this library's runs (defaults: the library's defaults). */
export interface OwnRunOptions {
  /** The library's database adapter the processors run on (default pg). */
  readonly adapter?: BenchAdapter;
  readonly batchSize?: number;
  readonly concurrency?: number;
  readonly idlePollIntervalMs?: number;
  readonly poolSize?: number;
  readonly transactional?: TransactionMode;
  /**
   * The consumer's `concurrency`: events of different ordering keys at once inside a batch
   * transaction; above 1 on a pool created with `pipeline: true` (default 1: one at a time).
   */
  readonly eventConcurrency?: number;
  /** Metrics and tracing on or off (scenario 2a's on/off pair); unset: library defaults. */
  readonly observability?: BenchObservability;
  /** The per-minute consumer stats recorder on or off (scenario 2d's pair); unset: library default (on). */
  readonly stats?: boolean;
}

const DEFAULT_POOL = 10;

function processorOptions(o: OwnRunOptions, i: number): ProcessorOptions {
  return {
    workerId: `bench-${i}`,
    ...(o.batchSize ? { batchSize: o.batchSize } : {}),
    ...(o.concurrency ? { concurrency: o.concurrency } : {}),
    ...(o.idlePollIntervalMs ? { idlePollIntervalMs: o.idlePollIntervalMs } : {}),
    ...(o.stats === undefined ? {} : { stats: { enabled: o.stats } }),
  };
}

/** Seeds `events` committed events: 100 per business transaction (orders + publishMany). */
export async function seedBacklog(db: BenchDatabase, events: number): Promise<void> {
  const pool = benchPool(db.url, 4);
  const bench = await createBenchApp(pool, { consumers: 0, listen: false });
  try {
    await seedInTransactions(pool, events, 100, 4, async (client, first, n) => {
      await client.query(
        `INSERT INTO bench_order (customer, amount)
         SELECT 'customer-' || (g % 1000), g % 97 + 1 FROM generate_series($1::int, $2::int) g`,
        [first, first + n - 1],
      );
      await bench.publisher.publishMany(
        client,
        Array.from({ length: n }, (_, k) => eventFor(first + k)),
      );
    });
  } finally {
    await bench.close();
    await pool.end();
  }
}

/** Starts `instances` processor processes (not yet consuming). */
export async function startProcessors(
  db: BenchDatabase,
  instances: number,
  args: Omit<ProcessorWorkerArgs, 'url' | 'processor'> & { run: OwnRunOptions },
): Promise<Array<WorkerHandle<ProcessorWorkerResult, ProcessorSample>>> {
  const { run, ...rest } = args;
  return Promise.all(
    Array.from({ length: instances }, (_, i) =>
      startWorker<ProcessorWorkerResult, ProcessorSample>(
        workerScript('processor'),
        {
          ...rest,
          url: db.url,
          adapter: run.adapter,
          processor: processorOptions(run, i),
          observability: run.observability,
        } satisfies ProcessorWorkerArgs,
        {
          execArgv: [
            '--expose-gc',
            ...(process.env.BENCH_CPU_PROF
              ? ['--cpu-prof', '--cpu-prof-dir=' + process.env.BENCH_CPU_PROF]
              : []),
          ],
        },
      ),
    ),
  );
}

/**
 * `instances` processor processes at the library defaults, LISTEN on, one consumer, recording
 * each delivery's start and commit (not yet consuming): the latency scenarios' processors.
 */
export function startRecordingProcessors(
  db: BenchDatabase,
  instances: number,
): Promise<Array<WorkerHandle<ProcessorWorkerResult, ProcessorSample>>> {
  return startProcessors(db, instances, {
    consumers: 1,
    listen: true,
    poolSize: DEFAULT_POOL,
    record: true,
    sampleEveryMs: 100,
    run: {},
  });
}

/** Scenario 2 for this library: drain a committed backlog with `instances` processes. */
export async function drainOwn(
  server: BenchServer,
  options: { events: number; consumers: number; instances: number; run?: OwnRunOptions },
): Promise<DrainFigures & { rssGrowthMiB: number }> {
  const run = options.run ?? {};
  return server.withDatabase('own-drain', async (db) => {
    const pool = benchPool(db.url, 2);
    try {
      await pool.query(WORKLOAD_DDL);
      await seedBacklog(db, options.events);
      await pool.query('VACUUM ANALYZE outbox_event');
      const workers = await startProcessors(db, options.instances, {
        consumers: options.consumers,
        listen: false,
        poolSize: run.poolSize ?? DEFAULT_POOL,
        transactional: run.transactional,
        eventConcurrency: run.eventConcurrency,
        record: false,
        sampleEveryMs: 100,
        run,
      });
      const before = await server.committed(db);
      const t0 = nowMs();
      workers.forEach((w) => w.go());
      const { doneAt, polls } = await waitUntilDrained(
        workers,
        options.events * options.consumers,
        pool,
        `SELECT count(*) AS n FROM integration_delivery WHERE status <> 'processed'`,
      );
      workers.forEach((w) => w.stop());
      const results = await Promise.all(workers.map((w) => w.result));
      await pool.end();
      const commits = (await server.committed(db, { settled: true })) - before - polls;
      const deliveries = options.events * options.consumers;
      await verifyProjection(db, deliveries);
      const seconds = (doneAt - t0) / 1000;
      const mib = (b: number): number => b / 2 ** 20;
      return {
        events: options.events,
        consumers: options.consumers,
        instances: options.instances,
        seconds,
        eventsPerSec: options.events / seconds,
        deliveriesPerSec: deliveries / seconds,
        commitsPerDelivery: commits / deliveries,
        peakRssMiB: Math.max(...results.map((r) => mib(r.rssPeakBytes))),
        cpuUsPerDelivery: results.reduce((sum, r) => sum + r.cpuMicros, 0) / deliveries,
        rssGrowthMiB: Math.max(...results.map((r) => mib(r.rssPeakBytes - r.rssStartBytes))),
      };
    } finally {
      await pool.end().catch(() => undefined);
    }
  });
}

async function verifyProjection(db: BenchDatabase, expected: number): Promise<void> {
  const pool = benchPool(db.url, 1);
  try {
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM bench_projection',
    );
    if (rows[0]!.n !== expected) {
      throw new Error(`projection has ${rows[0]!.n} rows, expected ${expected}`);
    }
  } finally {
    await pool.end();
  }
}

/** Scenario 3 for this library. */
export async function latencyOwn(
  server: BenchServer,
  options: {
    rate: number;
    durationMs: number;
    listen: boolean;
    maxWaitMs?: number;
    run?: OwnRunOptions;
    /** The publisher's `notify.windowMs`; unset: the library default. */
    notifyWindowMs?: number;
  },
): Promise<LatencyFigures> {
  const run = options.run ?? {};
  return server.withDatabase('own-latency', async (db) => {
    const pool = benchPool(db.url, 16);
    const publisherApp = await createBenchApp(pool, {
      consumers: 0,
      listen: options.listen,
      notifyWindowMs: options.notifyWindowMs,
    });
    try {
      await pool.query(WORKLOAD_DDL);
      const [worker] = await startProcessors(db, 1, {
        consumers: 1,
        listen: options.listen,
        poolSize: run.poolSize ?? DEFAULT_POOL,
        transactional: run.transactional,
        eventConcurrency: run.eventConcurrency,
        record: true,
        sampleEveryMs: 100,
        run,
      });
      worker!.go();
      const published = await publishAtRate(
        pool,
        options.rate,
        options.durationMs,
        async (client, n) => {
          const { rows } = await client.query<{ id: string }>(
            `INSERT INTO bench_order (customer, amount) VALUES ($1, $2) RETURNING id`,
            [`customer-${n % 1000}`, (n % 97) + 1],
          );
          return (await publisherApp.publisher.publish(client, eventFor(Number(rows[0]!.id))))!;
        },
      );
      const deadline = nowMs() + (options.maxWaitMs ?? 60_000);
      while ((worker!.samples.at(-1)?.handled ?? 0) < published.total && nowMs() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
      }
      worker!.stop();
      const result = await worker!.result;
      return latencyFigures(options.rate, published, result.observed, percentiles);
    } finally {
      await publisherApp.close();
      await pool.end();
    }
  });
}

/**
 * The throughput profile docs/performance.md recommends for draining backlogs: larger batches,
 * more batches in flight, a pool to match, and the consumer's `concurrency` on a pipelined
 * pool (events of different ordering keys side by side in each batch transaction). The
 * library defaults are batchSize 100, concurrency 2 and consumer concurrency 1.
 */
export const THROUGHPUT_PROFILE: OwnRunOptions = {
  batchSize: 500,
  concurrency: 4,
  poolSize: 20,
  eventConcurrency: 64,
};

/**
 * The throughput profile as far as an adapter can take it. Knex and Prisma send one statement
 * at a time on a transaction's connection (neither exposes pg's `pipeline`), so the consumer's
 * `concurrency` would only be lowered to 1 with a warning: it is left out for them.
 */
export function tunedProfile(adapter: BenchAdapter): OwnRunOptions {
  if (adapter === 'pg') return { ...THROUGHPUT_PROFILE, adapter };
  const { eventConcurrency: _pipelinedOnly, ...rest } = THROUGHPUT_PROFILE;
  return { ...rest, adapter };
}

/** This library as a compared subject (scenarios 2a and 3 side by side with its peers). */
export const ownSubject: BenchSubject = {
  name: 'nestjs-integration',
  version: packageVersion('.'),
  listenSupported: true,
  configuration: [
    'pgAdapter (named prepared statements) over a pg Pool per processor process; consumer transaction mode "batch" (default); inbox on',
    'drain: the throughput profile of docs/performance.md: batchSize 500, concurrency 4, pool max 20 created with pipeline: true, and the consumer registered with concurrency 64 (events of different ordering keys side by side in each batch transaction, their INSERTs pipelined); library defaults: batchSize 100, concurrency 2, consumer concurrency 1, the bench pool default 10, no pipeline (scenario 2 also shows the defaults)',
    'latency: library defaults (batchSize 100, concurrency 2, pool max 10); LISTEN/NOTIFY wake-up plus the default 1 s idle poll; polling-only: notify disabled, 1 s idle poll (the default)',
  ],
  drain: (server, o) => drainOwn(server, { ...o, run: THROUGHPUT_PROFILE }),
  latency: (server, o) => latencyOwn(server, o),
};
