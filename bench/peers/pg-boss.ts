import PgBoss from 'pg-boss';
import { Client, type PoolClient } from 'pg';
import { waitUntilDrained } from '../lib/drain-watch';
import { benchPool, xactCommit, type BenchDatabase, type BenchServer } from '../lib/server';
import { nowMs, percentiles, sleep } from '../lib/stats';
import { packageVersion } from '../lib/versions';
import { startWorker, workerScript, type WorkerHandle } from '../lib/worker';
import {
  EVENT_NAME,
  WORKLOAD_DDL,
  insertOrder,
  latencyFigures,
  payloadFor,
  publishAtRate,
  seedInTransactions,
  type BenchSubject,
  type DrainFigures,
  type LatencyFigures,
} from '../lib/workload';
import type {
  PgBossJobData,
  PgBossSample,
  PgBossWorkerArgs,
  PgBossWorkerConfig,
  PgBossWorkerResult,
} from '../workers/pg-boss.worker';

/** pg-boss's queue of the workload's event (one queue, one consumer). */
const QUEUE = EVENT_NAME;
const CONSUMER = 'c1';
/** pg-boss's default schema. */
const SCHEMA = 'pgboss';

/**
 * Per consumer process. pg-boss 10 has no concurrency option on `work()`: each call adds one
 * polling loop that fetches up to `batchSize` jobs, awaits the handler, and then sleeps for the
 * rest of `pollingIntervalSeconds` whenever the iteration took less than that (minus 100 ms),
 * even after a full batch. So one registration moves at most batchSize / 0.5 s; concurrency
 * comes from several registrations (the maintainer's recommendation since v10) and from running
 * a batch's jobs concurrently in the handler.
 */
export const PG_BOSS_CONFIG: PgBossWorkerConfig = {
  workers: 4,
  batchSize: 1000,
  pollingIntervalSeconds: 0.5,
  bossPoolMax: 6,
  handlerPoolMax: 10,
};

function withConfig(overrides: Partial<PgBossWorkerConfig> | undefined): PgBossWorkerConfig {
  return { ...PG_BOSS_CONFIG, ...overrides };
}

/** pg-boss's `db` option: run its statement on the business transaction's connection. */
function inTransaction(client: PoolClient): PgBoss.Db {
  return { executeSql: (text, values) => client.query(text, values) };
}

/** A pg-boss instance for the parent: installs the schema, creates the queue; no background work. */
async function setupBoss(db: BenchDatabase): Promise<PgBoss> {
  const boss = new PgBoss({
    connectionString: db.url,
    max: 2,
    supervise: false,
    schedule: false,
    application_name: 'bench-pgboss-parent',
  });
  boss.on('error', (error) => process.stderr.write(`pg-boss error: ${error.message}\n`));
  await boss.start();
  await boss.createQueue(QUEUE);
  return boss;
}

/** Starts `instances` consumer processes (set up, not yet consuming); none is left behind on failure. */
async function startConsumers(
  db: BenchDatabase,
  instances: number,
  config: PgBossWorkerConfig,
  record: boolean,
): Promise<Array<WorkerHandle<PgBossWorkerResult, PgBossSample>>> {
  const args: PgBossWorkerArgs = {
    url: db.url,
    queue: QUEUE,
    consumer: CONSUMER,
    config,
    record,
    sampleEveryMs: 100,
  };
  const started = await Promise.allSettled(
    Array.from({ length: instances }, () =>
      startWorker<PgBossWorkerResult, PgBossSample>(workerScript('pg-boss'), args, {
        execArgv: ['--expose-gc'],
      }),
    ),
  );
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    workers.forEach((w) => w.stop());
    await Promise.allSettled(workers.map((w) => w.result));
    throw failed.reason;
  }
  return workers;
}

/** Stops the workers and collects their results, even when some of them failed. */
async function stopConsumers(
  workers: ReadonlyArray<WorkerHandle<PgBossWorkerResult, PgBossSample>>,
): Promise<PgBossWorkerResult[]> {
  workers.forEach((w) => w.stop());
  const settled = await Promise.allSettled(workers.map((w) => w.result));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
  return settled.map((s) => (s as PromiseFulfilledResult<PgBossWorkerResult>).value);
}

/** Seeds `events` jobs: 100 per business transaction (one multi-row order INSERT + `insert([...], { db })`). */
async function seedBacklog(db: BenchDatabase, boss: PgBoss, events: number): Promise<void> {
  const pool = benchPool(db.url, 4);
  try {
    await seedInTransactions(pool, events, 100, 4, async (client, first, n) => {
      const payloads = Array.from({ length: n }, (_, k) => payloadFor(first + k));
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO bench_order (customer, amount)
         SELECT customer, amount FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(customer, amount, i)
         ORDER BY i RETURNING id`,
        [payloads.map((p) => p.customer), payloads.map((p) => p.amount)],
      );
      const jobs: Array<PgBoss.JobInsert<PgBossJobData>> = payloads.map((p, k) => ({
        name: QUEUE,
        data: { ...p, orderId: Number(rows[k]!.id) },
      }));
      await boss.insert(jobs, { db: inTransaction(client) });
    });
    await pool.query(`VACUUM ANALYZE ${SCHEMA}.job`);
  } finally {
    await pool.end();
  }
}

/**
 * Waits until no client connection to `db` is left. pg's `Pool.end()` resolves before the
 * server backends have exited, and a backend's last commits reach pg_stat_database only when it
 * exits, so `xactCommit` is read only once they are all gone. Watched from the admin database,
 * so the watching itself commits nothing in `db`.
 */
async function untilNoClients(
  server: BenchServer,
  db: BenchDatabase,
  timeoutMs = 15_000,
): Promise<void> {
  const admin = new Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    const deadline = nowMs() + timeoutMs;
    for (;;) {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
        [db.name],
      );
      if (rows[0]!.n === 0) return;
      if (nowMs() > deadline)
        throw new Error(`pg-boss: ${rows[0]!.n} connections to ${db.name} still open`);
      await sleep(5);
    }
  } finally {
    await admin.end();
  }
}

/**
 * Commits `xactCommit` itself adds to the next reading (its connection's start-up transaction
 * and its two statements), and the polling connection's start-up transaction.
 */
const XACT_READ_COMMITS = 3;
const POLL_CONNECTION_COMMITS = 1;

async function countRows(db: BenchDatabase, sql: string): Promise<number> {
  const pool = benchPool(db.url, 1);
  try {
    const { rows } = await pool.query<{ n: number }>(sql);
    return rows[0]!.n;
  } finally {
    await pool.end();
  }
}

/** Scenario 2 for pg-boss: drain a committed backlog of `events` jobs with `instances` processes. */
export async function drainPgBoss(
  server: BenchServer,
  options: {
    events: number;
    consumers: number;
    instances: number;
    maxSeconds?: number;
    config?: Partial<PgBossWorkerConfig>;
  },
): Promise<DrainFigures> {
  if (options.consumers !== 1)
    throw new Error('pg-boss peer: one consumer per job only (a queue, not fan-out)');
  const config = withConfig(options.config);
  return server.withDatabase(
    'pgboss-drain',
    async (db) => {
      const setup = benchPool(db.url, 1);
      try {
        await setup.query(WORKLOAD_DDL);
      } finally {
        await setup.end();
      }
      const boss = await setupBoss(db);
      try {
        await seedBacklog(db, boss, options.events);
      } finally {
        await boss.stop({ graceful: false });
      }

      await untilNoClients(server, db);
      const workers = await startConsumers(db, options.instances, config, false);
      const poll = benchPool(db.url, 1);
      let results: PgBossWorkerResult[];
      let before: number;
      let t0: number;
      let watch: { doneAt: number; polls: number; capped: boolean; completed: number };
      try {
        before = await xactCommit(db.url);
        t0 = nowMs();
        workers.forEach((w) => w.go());
        watch = await waitUntilDrained(
          workers,
          options.events,
          poll,
          `SELECT count(*) AS n FROM ${SCHEMA}.job WHERE name = '${QUEUE}' AND state <> 'completed'`,
          undefined,
          t0 + (options.maxSeconds ?? Number.POSITIVE_INFINITY) * 1000,
        );
      } finally {
        results = await stopConsumers(workers);
        await poll.end();
      }
      await untilNoClients(server, db);
      const commits =
        (await xactCommit(db.url)) -
        before -
        XACT_READ_COMMITS -
        POLL_CONNECTION_COMMITS -
        watch.polls;

      const projected = await countRows(db, 'SELECT count(*)::int AS n FROM bench_projection');
      if (!watch.capped && projected !== options.events) {
        throw new Error(
          `pg-boss drain: projection has ${projected} rows, expected ${options.events}`,
        );
      }
      const errors = results.reduce((n, r) => n + r.errors, 0);
      if (errors > 0) throw new Error(`pg-boss drain: ${errors} errors reported by the workers`);

      const seconds = (watch.doneAt - t0) / 1000;
      const mib = (b: number): number => b / 2 ** 20;
      return {
        events: options.events,
        consumers: 1,
        instances: options.instances,
        seconds,
        eventsPerSec: watch.completed / seconds,
        deliveriesPerSec: watch.completed / seconds,
        commitsPerDelivery: commits / watch.completed,
        peakRssMiB: Math.max(...results.map((r) => mib(r.rssPeakBytes))),
        ...(watch.capped ? { capped: true, completed: watch.completed } : {}),
      };
    },
    { migrate: false },
  );
}

/** Scenario 3 for pg-boss: open-loop publishing at `rate`/s, one consumer process polling. */
export async function latencyPgBoss(
  server: BenchServer,
  options: {
    rate: number;
    durationMs: number;
    listen: boolean;
    maxWaitMs?: number;
    config?: Partial<PgBossWorkerConfig>;
  },
): Promise<LatencyFigures> {
  const config = withConfig(options.config);
  return server.withDatabase(
    'pgboss-latency',
    async (db) => {
      const pool = benchPool(db.url, 16);
      let boss: PgBoss | undefined;
      try {
        await pool.query(WORKLOAD_DDL);
        boss = await setupBoss(db);
        const publisher = boss;
        const [worker] = await startConsumers(db, 1, config, true);
        let result: PgBossWorkerResult;
        let published: Awaited<ReturnType<typeof publishAtRate>>;
        try {
          worker!.go();
          published = await publishAtRate(
            pool,
            options.rate,
            options.durationMs,
            async (client, n) => {
              const orderId = await insertOrder(client, n);
              const id = await publisher.send(
                QUEUE,
                { ...payloadFor(n), orderId } satisfies PgBossJobData,
                { db: inTransaction(client) },
              );
              if (!id) throw new Error('pg-boss send returned no job id');
              return id;
            },
          );
          const deadline = nowMs() + (options.maxWaitMs ?? 60_000);
          while ((worker!.samples.at(-1)?.handled ?? 0) < published.total && nowMs() < deadline) {
            await sleep(50);
          }
        } finally {
          [result] = await stopConsumers([worker!]);
        }
        return latencyFigures(options.rate, published, result!.observed, percentiles);
      } finally {
        await boss?.stop({ graceful: false });
        await pool.end();
      }
    },
    { migrate: false },
  );
}

const C = PG_BOSS_CONFIG;

/** How pg-boss is configured, for the results file. */
const CONFIGURATION: readonly string[] = [
  "Publishing: each job is written inside the business transaction through pg-boss's db option ({ executeSql } over that transaction's pg client): insert([...], { db }) for the seeded backlog (100 per transaction), send(queue, data, { db }) in the latency run. One queue, policy 'standard', pg-boss defaults (retryLimit 2, 14-day retention); after seeding, VACUUM ANALYZE pgboss.job.",
  `Per consumer process: ${C.workers} work() registrations on the queue, each { batchSize: ${C.batchSize}, pollingIntervalSeconds: ${C.pollingIntervalSeconds} }. The handler runs its batch concurrently (Promise.all), one autocommit projection INSERT per job over the application's pg pool (max ${C.handlerPoolMax}); pg-boss completes the batch (one UPDATE) when the handler resolves. pg-boss's own pool (fetch, complete, maintenance): max ${C.bossPoolMax}. Maintenance and cron monitoring on (defaults).`,
  'Why: pg-boss 10 removed the concurrency options of work() (teamSize, teamConcurrency); its maintainer recommends several work() registrations for concurrency and running a batch concurrently in the handler (timgit/pg-boss issues #483, #542, #659). A registration sleeps out the rest of the polling interval after every fetch, even after a full batch, so one registration moves at most batchSize per interval: batchSize and registrations are sized so that this bound lies well above what the database sustains.',
  "Polling: 0.5 s is the smallest interval pg-boss 10 accepts (its validation: 'pollingIntervalSeconds must be at least every 500ms'). pg-boss 10 has no LISTEN/NOTIFY wake-up, so the listen option does not apply: the same polling configuration runs with and without it.",
];

/** pg-boss as a compared subject (scenarios 2a and 3). */
export const pgBossSubject: BenchSubject = {
  name: 'pg-boss',
  version: packageVersion('pg-boss'),
  listenSupported: false,
  configuration: CONFIGURATION,
  drain: (server, o) => drainPgBoss(server, o),
  latency: (server, o) => latencyPgBoss(server, o),
};
