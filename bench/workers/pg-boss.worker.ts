import { benchPool } from '../lib/server';
import { nowMs } from '../lib/stats';
import { RssSampler, workerMain, type WorkerSample } from '../lib/worker';
import type { payloadFor } from '../lib/workload';
import { createBoss, type PgBossJob, type PgBossMajor } from './pg-boss-api';

/** The data of one pg-boss job: the workload payload with the id of the order it belongs to. */
export type PgBossJobData = ReturnType<typeof payloadFor>;

/** How one pg-boss consumer process is configured (see `pgBossSubject.configuration`). */
export interface PgBossWorkerConfig {
  readonly major: PgBossMajor;
  /**
   * Independent polling loops in this process: pg-boss 10, that many `work()` registrations;
   * pg-boss 12, one registration with `localConcurrency` of that many.
   */
  readonly workers: number;
  /** `work({ batchSize })`: jobs fetched per poll of one loop. */
  readonly batchSize: number;
  /** `work({ pollingIntervalSeconds })`: at least 0.5 (pg-boss 10 and 12 reject less). */
  readonly pollingIntervalSeconds: number;
  /** pg-boss 12: `work({ burstWhenBatchFull })`, fetch again at once after a full batch. */
  readonly burstWhenBatchFull?: boolean;
  /**
   * pg-boss 12: the constructor's `useListenNotify` (one LISTEN connection; workers of a queue
   * created with `notify: true` are woken when a job is created).
   */
  readonly useListenNotify?: boolean;
  /** `max` of pg-boss's own pool (fetch, complete, maintenance). */
  readonly bossPoolMax: number;
  /** `max` of the application's pool the handler writes its projection rows through. */
  readonly handlerPoolMax: number;
}

/** Arguments of one consumer instance. */
export interface PgBossWorkerArgs {
  readonly url: string;
  readonly queue: string;
  readonly consumer: string;
  readonly config: PgBossWorkerConfig;
  /** Record (job id, handler start, projection commit) per job and return them. */
  readonly record: boolean;
  readonly sampleEveryMs: number;
}

/** What the parent receives while it runs. */
export type PgBossSample = WorkerSample;

/** The result of one instance. */
export interface PgBossWorkerResult {
  readonly handled: number;
  readonly errors: number;
  readonly observed: Array<[string, number, number]>;
  readonly rssStartBytes: number;
  readonly rssPeakBytes: number;
}

const PROJECT = `INSERT INTO bench_projection (event_id, consumer, order_id, amount)
  VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`;

/**
 * One pg-boss consumer process: pg-boss started (schema checked, maintenance and cron on, as in
 * production) before `ready`; its `work()` registrations are added only on `go`, so nothing is
 * fetched before the measured phase; stopped gracefully on `stop`.
 */
workerMain<PgBossWorkerArgs, PgBossWorkerResult>(async (args, io) => {
  const { config } = args;
  const app = benchPool(args.url, config.handlerPoolMax);
  const boss = await createBoss(config.major, {
    connectionString: args.url,
    max: config.bossPoolMax,
    application_name: 'bench-pgboss-worker',
    ...(config.useListenNotify ? { useListenNotify: true } : {}),
  });
  let errors = 0;
  boss.on('error', (error) => {
    errors++;
    process.stderr.write(`pg-boss worker error: ${error.message}\n`);
  });
  try {
    await boss.start();
  } catch (error) {
    await app.end();
    throw error;
  }

  let handled = 0;
  const observed: Array<[string, number, number]> = [];
  // The maintainer's pattern for a batch handler: run the batch's jobs concurrently
  // (`Promise.all(jobs.map(handler))`); each job is its own autocommit INSERT. pg-boss completes
  // the whole batch (one UPDATE) once the handler resolves, or fails it if it throws.
  const handler = async (jobs: Array<PgBossJob<PgBossJobData>>): Promise<void> => {
    const startAt = nowMs();
    await Promise.all(
      jobs.map(async (job) => {
        await app.query(PROJECT, [job.id, args.consumer, job.data.orderId, job.data.amount]);
        const commitAt = nowMs();
        handled++;
        if (args.record) observed.push([job.id, startAt, commitAt]);
      }),
    );
  };

  const memory = new RssSampler();
  io.ready();
  await Promise.race([io.go, io.stopSignal]);
  memory.start(args.sampleEveryMs, () => handled, io.sample);
  try {
    const options = {
      batchSize: config.batchSize,
      pollingIntervalSeconds: config.pollingIntervalSeconds,
    };
    if (config.major === 10) {
      for (let i = 0; i < config.workers && !io.stopped(); i++) {
        await boss.work<PgBossJobData>(args.queue, options, handler);
      }
    } else {
      await boss.work<PgBossJobData>(
        args.queue,
        {
          ...options,
          localConcurrency: config.workers,
          ...(config.burstWhenBatchFull ? { burstWhenBatchFull: true } : {}),
        },
        handler,
      );
    }
    await io.stopSignal;
  } finally {
    memory.stop();
    // Stops polling, waits for the handlers in progress, then closes pg-boss's pool.
    await boss.stop({ graceful: true, timeout: 30_000 });
    await app.end();
  }
  return { handled, errors, observed, ...memory.figures() };
});
