import { randomUUID } from 'node:crypto';
import { Client, type Pool, type PoolClient, type PoolConfig } from 'pg';
import {
  DatabaseSetupExporter,
  getDisabledLogger,
  initializeMessageStorage,
  type MessageStorage,
  type PollingListenerConfig,
  type TransactionalMessage,
} from 'pg-transactional-outbox';
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
  TransactionalOutboxPayload,
  TransactionalOutboxSample,
  TransactionalOutboxWorkerArgs,
  TransactionalOutboxWorkerResult,
} from '../workers/pg-transactional-outbox.worker';

/**
 * pg-transactional-outbox (polling listeners) as a compared subject.
 *
 * Pipeline per event: the business transaction inserts the order and stores the message in the
 * `outbox` table (`initializeMessageStorage`); the outbox polling listener (`next_outbox_messages`)
 * hands each message to a publisher that stores it into the `inbox` table with the library's
 * inbox storage; the inbox polling listener (`next_inbox_messages`) runs the projection handler in
 * a transaction that also marks the inbox row processed.
 */

/** Knobs of one configuration of the peer (see each subject's `configuration` for why). */
interface TransactionalOutboxSettings {
  /**
   * `nextMessagesBatchSize` of both listeners: the most messages a listener has in flight (each
   * message is handled in a transaction of its own; a poll fetches as many as slots are free).
   */
  readonly batchSize: number;
  /** `nextMessagesPollingIntervalInMs`: how long a listener waits when a poll left slots free. */
  readonly pollingIntervalMs: number;
  /** `max` of the inbox handler pool, and of the outbox transfer pool when set. */
  readonly handlerPoolMax: number;
  /** `max` of the outbox listener's transfer pool (`dbHandlerConfig`); unset: pg's default 10. */
  readonly outboxHandlerPoolMax?: number;
}

/** The README's producer and consumer examples. */
const README_SETTINGS: TransactionalOutboxSettings = {
  /** The value of the README's outbox and inbox examples (= the default). */
  batchSize: 5,
  /** The value of the README's outbox and inbox examples. */
  pollingIntervalMs: 250,
  /** Inbox handler pool: pg's default `max`, as the library's default client strategy pool. */
  handlerPoolMax: 10,
};

/**
 * Tuned from the library's source (0.5.7, src/polling and src/common/utils processPool): a
 * listener keeps `nextMessagesBatchSize` messages in flight, each in its own transaction on a
 * connection of the handler pool, and polls again as soon as one finishes; the interval only
 * applies while a poll finds fewer messages than free slots. So the batch size is the
 * concurrency (and the handler pools must match it), and the interval is the idle wake-up delay
 * a message pays twice (outbox poll, then inbox poll).
 */
const TUNED_SETTINGS: TransactionalOutboxSettings = {
  batchSize: 20,
  pollingIntervalMs: 50,
  handlerPoolMax: 20,
  outboxHandlerPoolMax: 20,
};

const AGGREGATE_TYPE = 'order';
const CONSUMER = 'c1';
/** Commits of one `xactCommit` read, seen by the next read: its connection (1) and its two statements. */
const XACT_COMMIT_READ_COMMITS = 3;
/**
 * The library's polling function scans all unprocessed rows on every poll, so its rate falls as the backlog
 * grows: a 50,000-event drain can take longer than waitUntilDrained's default 10 minutes.
 */
const DRAIN_TIMEOUT_MS = 45 * 60_000;

function poolConfig(url: string, max: number): PoolConfig {
  return { connectionString: url, max };
}

function listenerConfigs(
  url: string,
  settings: TransactionalOutboxSettings = README_SETTINGS,
): {
  outbox: PollingListenerConfig;
  inbox: PollingListenerConfig;
} {
  const dbListenerConfig = { connectionString: url };
  const common = {
    dbSchema: 'public',
    nextMessagesBatchSize: settings.batchSize,
    nextMessagesPollingIntervalInMs: settings.pollingIntervalMs,
  };
  return {
    outbox: {
      outboxOrInbox: 'outbox',
      dbListenerConfig,
      // Typed as a ClientConfig, but the library's default client strategy gives it to new Pool().
      ...(settings.outboxHandlerPoolMax
        ? { dbHandlerConfig: poolConfig(url, settings.outboxHandlerPoolMax) }
        : {}),
      settings: {
        ...common,
        dbTable: 'outbox',
        nextMessagesFunctionName: 'next_outbox_messages',
        // The library's outbox defaults (README env table / example-trx-polling.env).
        enableMaxAttemptsProtection: false,
        enablePoisonousMessageProtection: false,
      },
    },
    inbox: {
      outboxOrInbox: 'inbox',
      dbListenerConfig,
      settings: {
        ...common,
        dbTable: 'inbox',
        nextMessagesFunctionName: 'next_inbox_messages',
        // The library's inbox defaults, which its README suggests to always keep on.
        enableMaxAttemptsProtection: true,
        enablePoisonousMessageProtection: true,
      },
    },
  };
}

/**
 * The library's tables, polling functions and indexes, from its own SQL generator
 * (`DatabaseSetupExporter.createPollingScript`, the script behind examples/setup). The role
 * creation part is skipped (`skipRoles`): listener and handler run as the connection's role,
 * to which the generated grants are then addressed.
 */
async function createLibrarySchema(pool: Pool, db: BenchDatabase): Promise<void> {
  const { rows } = await pool.query<{ role: string }>('SELECT quote_ident(current_user) AS role');
  const role = rows[0]!.role;
  for (const [box, table, fn] of [
    ['outbox', 'outbox', 'next_outbox_messages'],
    ['inbox', 'inbox', 'next_inbox_messages'],
  ] as const) {
    const script = DatabaseSetupExporter.createPollingScript(
      {
        outboxOrInbox: box,
        database: db.name,
        schema: 'public',
        table,
        listenerRole: role,
        nextMessagesName: fn,
      },
      true,
    );
    await pool.query(script);
  }
}

/** Creates the workload and library schema on a fresh database. */
async function prepare(db: BenchDatabase, seed: number): Promise<void> {
  const pool = benchPool(db.url, 4);
  try {
    await pool.query(WORKLOAD_DDL);
    await createLibrarySchema(pool, db);
    if (seed > 0) {
      const store = initializeMessageStorage(listenerConfigs(db.url).outbox, getDisabledLogger());
      await seedInTransactions(pool, seed, 100, 4, async (client, first, n) => {
        for (let k = 0; k < n; k++) await publishOrder(client, store, first + k);
      });
      await pool.query('VACUUM ANALYZE outbox');
    }
  } finally {
    await pool.end();
  }
}

/** The business write: one order and its outbox message, on the transaction's client. */
async function publishOrder(client: PoolClient, store: MessageStorage, n: number): Promise<string> {
  const orderId = await insertOrder(client, n);
  const payload: TransactionalOutboxPayload = { ...payloadFor(n), orderId };
  const message: TransactionalMessage = {
    id: randomUUID(),
    aggregateType: AGGREGATE_TYPE,
    aggregateId: String(orderId),
    messageType: EVENT_NAME,
    // Independent orders: let the polling function hand out any message, not one per segment.
    concurrency: 'parallel',
    payload,
  };
  await store(message, client);
  return message.id;
}

type Worker = WorkerHandle<TransactionalOutboxWorkerResult, TransactionalOutboxSample>;

async function startConsumers(
  db: BenchDatabase,
  instances: number,
  record: boolean,
  settings: TransactionalOutboxSettings,
): Promise<Worker[]> {
  const { outbox, inbox } = listenerConfigs(db.url, settings);
  const args: TransactionalOutboxWorkerArgs = {
    outbox,
    inbox,
    handlerPoolMax: settings.handlerPoolMax,
    aggregateType: AGGREGATE_TYPE,
    consumer: CONSUMER,
    record,
    sampleEveryMs: 100,
  };
  const started = await Promise.allSettled(
    Array.from({ length: instances }, () =>
      startWorker<TransactionalOutboxWorkerResult, TransactionalOutboxSample>(
        workerScript('pg-transactional-outbox'),
        args,
        { execArgv: ['--expose-gc'] },
      ),
    ),
  );
  const workers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stopConsumers(workers);
    throw failed.reason;
  }
  return workers;
}

/** Asks the workers to stop and waits for their results; kills (by pid) any that hang. */
async function stopConsumers(
  workers: readonly Worker[],
): Promise<TransactionalOutboxWorkerResult[]> {
  workers.forEach((w) => w.stop());
  const settled = Promise.allSettled(workers.map((w) => w.result));
  const outcome = await Promise.race([settled, sleep(60_000).then(() => undefined)]);
  if (!outcome) {
    for (const w of workers) {
      try {
        process.kill(w.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    throw new Error('pg-transactional-outbox workers did not stop within 60 s (killed)');
  }
  const results: TransactionalOutboxWorkerResult[] = [];
  for (const s of outcome) {
    if (s.status === 'rejected') throw s.reason;
    results.push(s.value);
  }
  return results;
}

/**
 * Waits until no client backend is connected to the database any more: a backend leaves
 * pg_stat_activity only after it flushed its statistics, so xact_commit is then complete.
 * Runs on the server's admin database, so it adds no commits to the measured one.
 */
async function waitForBackendsToExit(server: BenchServer, db: BenchDatabase): Promise<void> {
  const admin = new Client({ connectionString: server.adminUrl });
  await admin.connect();
  try {
    const deadline = nowMs() + 10_000;
    for (;;) {
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
        [db.name],
      );
      if (rows[0]!.n === 0 || nowMs() > deadline) return;
      await sleep(20);
    }
  } finally {
    await admin.end();
  }
}

async function verifyProjection(db: BenchDatabase, expected: number): Promise<void> {
  const pool = benchPool(db.url, 1);
  try {
    const { rows } = await pool.query<{ n: number; inbox: number; abandoned: number }>(
      `SELECT (SELECT count(*)::int FROM bench_projection) AS n,
              (SELECT count(*)::int FROM inbox) AS inbox,
              (SELECT count(*)::int FROM inbox WHERE abandoned_at IS NOT NULL)
                + (SELECT count(*)::int FROM outbox WHERE abandoned_at IS NOT NULL) AS abandoned`,
    );
    const r = rows[0]!;
    if (r.n !== expected) {
      throw new Error(
        `bench_projection has ${r.n} rows, expected ${expected} (inbox ${r.inbox}, abandoned ${r.abandoned})`,
      );
    }
  } finally {
    await pool.end();
  }
}

function reportLibraryLogs(results: readonly TransactionalOutboxWorkerResult[]): void {
  const errors = results.reduce((n, r) => n + r.errors, 0);
  const warnings = results.reduce((n, r) => n + r.warnings, 0);
  if (errors > 0 || warnings > 0) {
    process.stderr.write(
      `pg-transactional-outbox: the library logged ${errors} error(s), ${warnings} warning(s)\n`,
    );
  }
}

/** Scenario 2a: drain a committed backlog of `events` outbox messages with `instances` processes. */
async function drain(
  server: BenchServer,
  settings: TransactionalOutboxSettings,
  options: { events: number; consumers: number; instances: number; maxSeconds?: number },
): Promise<DrainFigures> {
  if (options.consumers !== 1)
    throw new Error('pg-transactional-outbox: one consumer (inbox handler) only');
  const { events, instances } = options;
  return server.withDatabase(
    'ptxo-drain',
    async (db) => {
      await prepare(db, events);
      const workers = await startConsumers(db, instances, false, settings);
      const watch = benchPool(db.url, 1);
      let stopped = false;
      try {
        const before = await xactCommit(db.url);
        const t0 = nowMs();
        workers.forEach((w) => w.go());
        // Every message fully processed per the library's tables: outbox rows processed, one
        // inbox row per message, every inbox row processed.
        const { doneAt, polls, capped, completed } = await waitUntilDrained(
          workers,
          events,
          watch,
          `SELECT (SELECT count(*) FROM outbox WHERE processed_at IS NULL)
                + (SELECT count(*) FROM inbox WHERE processed_at IS NULL)
                + (${Math.trunc(events)} - (SELECT count(*) FROM inbox)) AS n`,
          DRAIN_TIMEOUT_MS,
          t0 + (options.maxSeconds ?? Number.POSITIVE_INFINITY) * 1000,
        );
        stopped = true;
        const results = await stopConsumers(workers);
        await watch.end();
        await waitForBackendsToExit(server, db);
        // Minus the watcher's connection and polls, and the first xactCommit read's own commits.
        const commits =
          (await xactCommit(db.url)) - before - XACT_COMMIT_READ_COMMITS - (polls + 1);
        reportLibraryLogs(results);
        if (!capped) await verifyProjection(db, events);
        const seconds = (doneAt - t0) / 1000;
        return {
          events,
          consumers: 1,
          instances,
          seconds,
          eventsPerSec: completed / seconds,
          deliveriesPerSec: completed / seconds,
          commitsPerDelivery: commits / completed,
          peakRssMiB: Math.max(...results.map((r) => r.rssPeakBytes / 2 ** 20)),
          ...(capped ? { capped: true, completed } : {}),
        };
      } finally {
        if (!stopped) await stopConsumers(workers).catch(() => undefined);
        await watch.end().catch(() => undefined);
      }
    },
    { migrate: false },
  );
}

/** Scenario 3: open-loop publishing at `rate`/s for `durationMs`, one consumer process. */
async function latency(
  server: BenchServer,
  settings: TransactionalOutboxSettings,
  options: { rate: number; durationMs: number; listen: boolean; maxWaitMs?: number },
): Promise<LatencyFigures> {
  return server.withDatabase(
    'ptxo-latency',
    async (db) => {
      await prepare(db, 0);
      const [worker] = await startConsumers(db, 1, true, settings);
      const pool = benchPool(db.url, 16);
      let stopped = false;
      try {
        worker!.go();
        const store = initializeMessageStorage(listenerConfigs(db.url).outbox, getDisabledLogger());
        const published = await publishAtRate(pool, options.rate, options.durationMs, (client, n) =>
          publishOrder(client, store, n),
        );
        const deadline = nowMs() + (options.maxWaitMs ?? 60_000);
        while ((worker!.samples.at(-1)?.handled ?? 0) < published.total && nowMs() < deadline) {
          await sleep(50);
        }
        stopped = true;
        const [result] = await stopConsumers([worker!]);
        reportLibraryLogs([result!]);
        return latencyFigures(options.rate, published, result!.observed, percentiles);
      } finally {
        if (!stopped) await stopConsumers([worker!]).catch(() => undefined);
        await pool.end();
      }
    },
    { migrate: false },
  );
}

/** What both configurations share, in words. */
const COMMON_CONFIGURATION: readonly string[] = [
  'polling listeners (initializePollingMessageListener) for both the outbox and the inbox, in each consumer process; ' +
    'not the logical-replication listener: it needs wal_level=logical and a REPLICATION role, and "Only a single instance can connect to the replication slot" (README), so it could not run 2 instances',
  "outbox → inbox: the outbox listener's message publisher stores each message into the inbox with the library's inbox storage (initializeMessageStorage) " +
    'on the transaction client the outbox listener hands it (outbox and inbox share the database, no broker), so the transfer and the outbox processed_at commit together; ' +
    'the inbox listener runs the projection INSERT on the transaction client it hands the handler, in the transaction that marks the inbox row processed',
  "schema: the library's generator DatabaseSetupExporter.createPollingScript (tables, next_outbox_messages / next_inbox_messages functions, indexes, grants); " +
    'its role section skipped, listener and handler run as the connection role ("For the polling approach, you could use a single database role", README)',
  "messages stored with concurrency 'parallel' and no segment: the orders are independent; with the default 'sequential' the polling function hands out only the oldest message per segment (one at a time for unsegmented messages)",
  'outbox: max-attempts and poisonous-message protection off, inbox: both on (the library\'s defaults, README: "suggested to always enable" them for the inbox); ' +
    'message lock 5 s, processing timeout 15 s, cleanup every 5 min of messages processed > 7 days ago (defaults, nothing is deleted during a run)',
  "inbox handler transactions on a pg Pool of the bench's given through the documented messageProcessingDbClientStrategy (its size below)",
  "commit time: the strategy's client stamps a handled message when the COMMIT of the library's handler transaction (projection row + inbox processed_at) returns; " +
    'drain counts a message handled at that moment too',
  'observed library behaviour, not a setting: a poll briefly takes a NOWAIT row lock on the oldest unprocessed message even while that message is being handled, ' +
    'so the handler\'s own NOWAIT lock sometimes fails ("could not obtain lock", logged as a warning) and the message is retried once its 5 s lock expires (a few dozen per 20,000-event drain; the ~5 s latency maxima)',
  'listen: no effect, the library has no LISTEN/NOTIFY wake-up for polling in 0.5.7 ("TODO: implement LISTEN/NOTIFY" in its polling listener); every message waits for two polls (outbox, then inbox)',
];

const R = README_SETTINGS;
const T = TUNED_SETTINGS;

/** pg-transactional-outbox with the settings of its README's examples. */
export const transactionalOutboxSubject: BenchSubject = {
  name: 'pg-transactional-outbox',
  version: packageVersion('pg-transactional-outbox'),
  listenSupported: false,
  configuration: [
    ...COMMON_CONFIGURATION,
    `README settings: nextMessagesBatchSize ${R.batchSize} and nextMessagesPollingIntervalInMs ${R.pollingIntervalMs} for both listeners, the values of the README's producer and consumer examples ` +
      '(batch 5 is also the default; the docs give no other throughput advice); inbox handler pool max ' +
      `${R.handlerPoolMax} (pg's default, as the library's default pool), the outbox listener on the library's default pools (max 10). ` +
      'The default batch-size strategy starts with single messages for the first batch-size polls (poisonous-message protection)',
  ],
  drain: (server, o) => drain(server, R, o),
  latency: (server, o) => latency(server, R, o),
};

/** pg-transactional-outbox tuned for these scenarios (see {@link TUNED_SETTINGS}). */
export const transactionalOutboxTunedSubject: BenchSubject = {
  name: 'pg-transactional-outbox (tuned)',
  version: packageVersion('pg-transactional-outbox'),
  listenSupported: false,
  configuration: [
    ...COMMON_CONFIGURATION,
    `tuned settings: nextMessagesBatchSize ${T.batchSize} for both listeners, with the outbox listener's transfer pool (dbHandlerConfig max) and the inbox handler pool at max ${T.handlerPoolMax}; ` +
      `nextMessagesPollingIntervalInMs ${T.pollingIntervalMs}. Why, from its source (src/common/utils.ts processPool, src/polling): a listener keeps batch-size messages in flight, each handled in a transaction of its own on a handler-pool connection, ` +
      'and polls for more as soon as one finishes; so the batch size is its concurrency (more transactions committing side by side: group commit), bounded by the handler pool, which must match it. ' +
      'The interval is only waited when a poll found fewer messages than free slots (idle), and a message waits for two such polls, so it sets the latency floor at the cost of idle polls (2 listeners × 20/s per process). ' +
      'Larger batches were not chosen: every poll scans all unprocessed rows (next_*_messages) and takes NOWAIT locks, and 2 instances × 2 pools must stay well under max_connections 200. ' +
      'Not the logical-replication listener: it needs wal_level=logical on the server every scenario shares (more WAL for all of them) and allows one instance per slot (README), so it could not run the 2-instance rows',
  ],
  drain: (server, o) => drain(server, T, o),
  latency: (server, o) => latency(server, T, o),
};
