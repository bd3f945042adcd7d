import { Client } from 'pg';
import { waitUntilDrained } from '../lib/drain-watch';
import { nodeFromNpm, type NodeRuntime } from '../lib/node-runtime';
import { benchPool, xactCommit, type BenchDatabase, type BenchServer } from '../lib/server';
import { nowMs, percentiles, sleep } from '../lib/stats';
import { packageVersion } from '../lib/versions';
import { startWorker, workerScript, type WorkerHandle } from '../lib/worker';
import {
  EVENT_NAME,
  WORKLOAD_DDL,
  latencyFigures,
  publishAtRate,
  type BenchSubject,
  type DrainFigures,
  type LatencyFigures,
} from '../lib/workload';
import type { PgBossClientArgs, PgBossClientResult } from '../workers/pg-boss-client.worker';
import type {
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
  major: 10,
  workers: 4,
  batchSize: 1000,
  pollingIntervalSeconds: 0.5,
  bossPoolMax: 6,
  handlerPoolMax: 10,
};

/**
 * pg-boss 12, the same shape: 4 polling loops (now `localConcurrency: 4` on one `work()`), batch
 * 1,000, a 0.5 s poll (still its minimum), the same pools, the handler the same; plus what 11–12
 * added for exactly these two scenarios: `burstWhenBatchFull` (fetch again at once after a full
 * batch instead of sleeping out the interval) for the drain, and LISTEN/NOTIFY
 * (`useListenNotify` with the queue's `notify`) when the run asks for LISTEN.
 */
export const PG_BOSS_12_CONFIG: PgBossWorkerConfig = {
  ...PG_BOSS_CONFIG,
  major: 12,
  burstWhenBatchFull: true,
};

/** One pg-boss major as a compared subject: its package, its configuration, its Node. */
interface PgBossFlavor {
  readonly name: string;
  readonly packageName: string;
  readonly config: PgBossWorkerConfig;
  /** The Node it runs on: this process's, or a major from the npm package `node`. */
  readonly node?: string;
}

function runtimeOf(flavor: PgBossFlavor): NodeRuntime | undefined {
  return flavor.node ? nodeFromNpm(flavor.node) : undefined;
}

/**
 * Runs the application side of a run (schema, queue, then seeding or publishing on `go`) in a
 * process of the flavor's Node; resolves once the queue exists.
 */
function startClient(
  db: BenchDatabase,
  flavor: PgBossFlavor,
  args: PgBossClientArgs extends infer A
    ? A extends PgBossClientArgs
      ? Omit<A, 'url' | 'major' | 'queue'>
      : never
    : never,
): Promise<WorkerHandle<PgBossClientResult>> {
  return startWorker<PgBossClientResult>(
    workerScript('pg-boss-client'),
    { ...args, url: db.url, major: flavor.config.major, queue: QUEUE } as PgBossClientArgs,
    { execPath: runtimeOf(flavor)?.execPath },
  );
}

/** Seeds `events` jobs: 100 per business transaction (one multi-row order INSERT + `insert([...], { db })`). */
async function seedBacklog(db: BenchDatabase, flavor: PgBossFlavor, events: number): Promise<void> {
  const client = await startClient(db, flavor, {
    mode: 'seed',
    events,
    schema: SCHEMA,
    notify: false,
  });
  client.go();
  await client.result;
}

/** Starts `instances` consumer processes (set up, not yet consuming); none is left behind on failure. */
async function startConsumers(
  db: BenchDatabase,
  instances: number,
  flavor: PgBossFlavor,
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
  const execPath = runtimeOf(flavor)?.execPath;
  const started = await Promise.allSettled(
    Array.from({ length: instances }, () =>
      startWorker<PgBossWorkerResult, PgBossSample>(workerScript('pg-boss'), args, {
        execPath,
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
async function drainPgBoss(
  server: BenchServer,
  flavor: PgBossFlavor,
  options: {
    events: number;
    consumers: number;
    instances: number;
    maxSeconds?: number;
  },
): Promise<DrainFigures> {
  if (options.consumers !== 1)
    throw new Error('pg-boss peer: one consumer per job only (a queue, not fan-out)');
  const config = flavor.config;
  return server.withDatabase(
    'pgboss-drain',
    async (db) => {
      const setup = benchPool(db.url, 1);
      try {
        await setup.query(WORKLOAD_DDL);
      } finally {
        await setup.end();
      }
      await seedBacklog(db, flavor, options.events);

      await untilNoClients(server, db);
      const workers = await startConsumers(db, options.instances, flavor, config, false);
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

/**
 * Scenario 3 for pg-boss: open-loop publishing at `rate`/s (in a process of the flavor's Node),
 * one consumer process: polling, or for pg-boss 12 with `listen`, LISTEN/NOTIFY plus polling.
 */
async function latencyPgBoss(
  server: BenchServer,
  flavor: PgBossFlavor,
  options: { rate: number; durationMs: number; listen: boolean; maxWaitMs?: number },
): Promise<LatencyFigures> {
  const notify = options.listen && flavor.config.major >= 12;
  const config: PgBossWorkerConfig = { ...flavor.config, useListenNotify: notify };
  return server.withDatabase(
    'pgboss-latency',
    async (db) => {
      const setup = benchPool(db.url, 1);
      try {
        await setup.query(WORKLOAD_DDL);
      } finally {
        await setup.end();
      }
      const client = await startClient(db, flavor, {
        mode: 'publish',
        rate: options.rate,
        durationMs: options.durationMs,
        notify,
      });
      let worker: WorkerHandle<PgBossWorkerResult, PgBossSample> | undefined;
      let result: PgBossWorkerResult | undefined;
      let published: Awaited<ReturnType<typeof publishAtRate>> | undefined;
      try {
        [worker] = await startConsumers(db, 1, flavor, config, true);
        worker!.go();
        client.go();
        published = (await client.result) as Awaited<ReturnType<typeof publishAtRate>>;
        const deadline = nowMs() + (options.maxWaitMs ?? 60_000);
        while ((worker!.samples.at(-1)?.handled ?? 0) < published.total && nowMs() < deadline) {
          await sleep(50);
        }
      } finally {
        // Only when publishing did not finish: the client exits on its own after its result.
        if (!published) client.stop();
        await client.result.catch(() => undefined);
        if (worker) [result] = await stopConsumers([worker]);
      }
      return latencyFigures(options.rate, published, result!.observed, percentiles);
    },
    { migrate: false },
  );
}

/** How a pg-boss major is configured, for the results file. */
function configuration(flavor: PgBossFlavor): string[] {
  const c = flavor.config;
  const runtime = runtimeOf(flavor);
  const common = [
    `Runs on ${runtime ? `Node ${runtime.version} (npm package node@${flavor.node}, through npx; the peer's engines need Node >= 22.12)` : `this machine's Node ${process.version}`}: its consumer processes and the application side (schema, queue, seeding, publishing), each in its own process.`,
    `Publishing: each job is written inside the business transaction through pg-boss's db option ({ executeSql } over that transaction's pg client): insert(...) for the seeded backlog (100 per transaction), send(queue, data, { db }) in the latency run. One queue, policy 'standard', pg-boss defaults (retryLimit 2, 14-day retention)${c.major >= 12 ? ', OpenTelemetry at its default (on, no SDK registered: no-op)' : ''}; after seeding, VACUUM ANALYZE pgboss.job.`,
  ];
  if (c.major === 10)
    return [
      ...common,
      `Per consumer process: ${c.workers} work() registrations on the queue, each { batchSize: ${c.batchSize}, pollingIntervalSeconds: ${c.pollingIntervalSeconds} }. The handler runs its batch concurrently (Promise.all), one autocommit projection INSERT per job over the application's pg pool (max ${c.handlerPoolMax}); pg-boss completes the batch (one UPDATE) when the handler resolves. pg-boss's own pool (fetch, complete, maintenance): max ${c.bossPoolMax}. Maintenance and cron monitoring on (defaults).`,
      'Why: pg-boss 10 removed the concurrency options of work() (teamSize, teamConcurrency); its maintainer recommends several work() registrations for concurrency and running a batch concurrently in the handler (timgit/pg-boss issues #483, #542, #659). A registration sleeps out the rest of the polling interval after every fetch, even after a full batch, so one registration moves at most batchSize per interval: batchSize and registrations are sized so that this bound lies well above what the database sustains.',
      "Polling: 0.5 s is the smallest interval pg-boss 10 accepts (its validation: 'pollingIntervalSeconds must be at least every 500ms'). pg-boss 10 has no LISTEN/NOTIFY wake-up, so the listen option does not apply: the same polling configuration runs with and without it.",
    ];
  return [
    ...common,
    `Per consumer process: one work() registration { localConcurrency: ${c.workers}, batchSize: ${c.batchSize}, pollingIntervalSeconds: ${c.pollingIntervalSeconds}${c.burstWhenBatchFull ? ', burstWhenBatchFull: true' : ''} }: the ${c.workers} polling loops of pg-boss 10's configuration, now through the option 11 brought back. The same handler as pg-boss 10 (the batch concurrently, one autocommit projection INSERT per job, application pool max ${c.handlerPoolMax}); pg-boss's own pool max ${c.bossPoolMax}; maintenance and monitoring on (defaults).`,
    "burstWhenBatchFull (drain and latency): while a fetch returns a full batch the loop fetches again at once instead of sleeping out the polling interval, the limit pg-boss 10 had; its docs give it for draining backlogs. Not used: transactional: true (the handler's writes and the completion in one transaction, one commit per batch): it would change the handler pg-boss 10 runs, and these rows compare the two majors on the same work.",
    'Latency with LISTEN: useListenNotify: true on the consumer and the queue created with notify: true, so each send() notifies and a worker fetches at once (polling stays on as the backstop: notifyPollingIntervalSeconds at its default 30 s). 0.5 s is still the smallest pollingIntervalSeconds.',
  ];
}

/** A pg-boss major as a compared subject (scenarios 2a and 3). */
function pgBossSubjectOf(flavor: PgBossFlavor): BenchSubject {
  return {
    name: flavor.name,
    version: packageVersion(flavor.packageName),
    listenSupported: flavor.config.major >= 12,
    get configuration() {
      return configuration(flavor);
    },
    drain: (server, o) => drainPgBoss(server, flavor, o),
    latency: (server, o) => latencyPgBoss(server, flavor, o),
  };
}

/** pg-boss 10.4.2 on this machine's Node (20). */
export const pgBossSubject = pgBossSubjectOf({
  name: 'pg-boss 10',
  packageName: 'pg-boss',
  config: PG_BOSS_CONFIG,
});

/** pg-boss 12 (the devDependency alias pg-boss-12) on Node 24 from the npm package `node`. */
export const pgBoss12Subject = pgBossSubjectOf({
  name: 'pg-boss 12',
  packageName: 'pg-boss-12',
  config: PG_BOSS_12_CONFIG,
  node: '24',
});
