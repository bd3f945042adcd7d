import { Pool, type PoolClient } from 'pg';
import {
  initializeMessageStorage,
  initializePollingMessageListener,
  type DatabaseClient,
  type GeneralMessageHandler,
  type MessageProcessingDbClientStrategy,
  type PollingListenerConfig,
  type TransactionalLogger,
  type TransactionalMessageHandler,
} from 'pg-transactional-outbox';
import { nowMs } from '../lib/stats';
import { RssSampler, workerMain, type WorkerSample } from '../lib/worker';
import { EVENT_NAME, type payloadFor } from '../lib/workload';

/** The payload of one outbox/inbox message: the workload payload with the id of its order. */
export type TransactionalOutboxPayload = ReturnType<typeof payloadFor>;

/** Arguments of one consumer instance. */
export interface TransactionalOutboxWorkerArgs {
  /** Polling listener of the outbox (moves each message into the inbox). */
  readonly outbox: PollingListenerConfig;
  /** Polling listener of the inbox (runs the projection handler). */
  readonly inbox: PollingListenerConfig;
  /** `max` of the pool the inbox handler transactions run on (pg's default is 10, as the library's own pool). */
  readonly handlerPoolMax: number;
  /** The aggregate type of the messages (their message type is `EVENT_NAME`). */
  readonly aggregateType: string;
  readonly consumer: string;
  /** Record (message id, handler start, handler commit) per message and return them. */
  readonly record: boolean;
  readonly sampleEveryMs: number;
}

/** What the parent receives while it runs. */
export type TransactionalOutboxSample = WorkerSample;

/** The result of one instance. */
export interface TransactionalOutboxWorkerResult {
  readonly handled: number;
  /** Errors the library logged (or client errors) before stop was requested. */
  readonly errors: number;
  /** Warnings the library logged before stop (e.g. a handler retried after a lock conflict). */
  readonly warnings: number;
  readonly observed: Array<[string, number, number]>;
  readonly rssStartBytes: number;
  readonly rssPeakBytes: number;
}

const PROJECT = `INSERT INTO bench_projection (event_id, consumer, order_id, amount) VALUES ($1, $2, $3, $4)`;

function isPayload(value: unknown): value is TransactionalOutboxPayload {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { orderId?: unknown }).orderId === 'number' &&
    typeof (value as { amount?: unknown }).amount === 'number'
  );
}

/**
 * One consumer process of pg-transactional-outbox: both polling listeners of the library (outbox
 * → inbox transfer, and inbox → handler) are created only on `go`, so nothing is polled before the
 * measured phase; both are shut down on `stop`.
 */
workerMain<TransactionalOutboxWorkerArgs, TransactionalOutboxWorkerResult>(async (args, io) => {
  let stopping = false;
  let errors = 0;
  let warnings = 0;
  let printed = 0;
  const describe = (logArgs: unknown[]): string =>
    logArgs
      .map((a) => (a instanceof Error ? a.message : typeof a === 'string' ? a : ''))
      .filter((s) => s.length > 0)
      .join(' | ');
  const counting =
    (kind: 'error' | 'warn') =>
    (...logArgs: unknown[]): void => {
      if (stopping) return; // shutdown noise (e.g. a poll racing pool.end()) is not a run error
      if (kind === 'error') errors++;
      else warnings++;
      if (printed++ < 10)
        process.stderr.write(`pg-transactional-outbox ${kind}: ${describe(logArgs)}\n`);
    };
  const ignore = (): void => undefined;
  const logger: TransactionalLogger = {
    level: 'warn',
    fatal: counting('error'),
    error: counting('error'),
    warn: counting('warn'),
    info: ignore,
    debug: ignore,
    trace: ignore,
    silent: ignore,
  };

  // Outbox → inbox: the outbox listener's message publisher. Outbox and inbox share this
  // database, so the publisher stores the inbox message with the library's inbox storage on the
  // transaction the outbox listener hands it: the inbox insert and the outbox row's processed_at
  // commit together (no broker in between). `lockedUntil` is outbox processing state, not part
  // of the message, so it is not forwarded (forwarding it would lock the inbox row for 5 s).
  const storeInboxMessage = initializeMessageStorage(args.inbox, logger);
  const transfer: GeneralMessageHandler = {
    handle: async (message, client) => {
      await storeInboxMessage(
        {
          id: message.id,
          aggregateType: message.aggregateType,
          aggregateId: message.aggregateId,
          messageType: message.messageType,
          segment: message.segment,
          concurrency: message.concurrency,
          payload: message.payload,
          metadata: message.metadata,
          createdAt: message.createdAt,
        },
        client,
      );
    },
  };

  // The inbox handler transactions run on this pool, handed to the library through its documented
  // message-processing DB client strategy. The only addition to the library's default strategy:
  // the client's COMMIT is observed, so a message counts as handled (and gets its commit time)
  // when the transaction holding its projection row and its inbox processed_at has committed.
  let handled = 0;
  const observed: Array<[string, number, number]> = [];
  const finished = new WeakMap<object, { id: string; startAt: number }>();
  const instrumented = new WeakSet<PoolClient>();
  const handlerPool = new Pool({
    ...(args.inbox.dbHandlerConfig ?? args.inbox.dbListenerConfig),
    max: args.handlerPoolMax,
  });
  handlerPool.on('error', () => undefined);
  let handlerPoolEnded: Promise<void> | undefined;
  const endHandlerPool = (): Promise<void> => (handlerPoolEnded ??= handlerPool.end());
  const onCommitted = (client: object): void => {
    const done = finished.get(client);
    if (!done) return;
    finished.delete(client);
    handled++;
    if (args.record) observed.push([done.id, done.startAt, nowMs()]);
  };
  const instrument = (client: PoolClient): void => {
    if (instrumented.has(client)) return;
    instrumented.add(client);
    client.on('error', (error) => counting('error')(error));
    const query = client.query.bind(client) as (...queryArgs: unknown[]) => unknown;
    (client as unknown as { query: (...queryArgs: unknown[]) => unknown }).query = (
      ...queryArgs: unknown[]
    ): unknown => {
      const result = query(...queryArgs);
      if (queryArgs[0] === 'COMMIT' && result instanceof Promise) {
        // Registered before the library awaits the same promise: runs first when COMMIT returns.
        result.then(
          () => onCommitted(client),
          () => undefined,
        );
      }
      return result;
    };
  };
  const clientStrategy: MessageProcessingDbClientStrategy = {
    getClient: async (): Promise<DatabaseClient> => {
      const client = await handlerPool.connect();
      instrument(client);
      finished.delete(client); // a previous transaction on it that rolled back
      return client;
    },
    shutdown: endHandlerPool,
  };

  const projection: TransactionalMessageHandler = {
    aggregateType: args.aggregateType,
    messageType: EVENT_NAME,
    handle: async (message, client) => {
      const startAt = nowMs();
      const payload = message.payload;
      if (!isPayload(payload)) throw new Error(`message ${message.id} has an unexpected payload`);
      await client.query(PROJECT, [message.id, args.consumer, payload.orderId, payload.amount]);
      finished.set(client, { id: message.id, startAt });
    },
  };

  const memory = new RssSampler();
  io.ready();
  await io.go;
  memory.start(args.sampleEveryMs, () => handled, io.sample);
  const shutdowns: Array<() => Promise<void>> = [];
  try {
    const [stopOutbox] = initializePollingMessageListener(args.outbox, transfer, logger);
    shutdowns.push(stopOutbox);
    const [stopInbox] = initializePollingMessageListener(args.inbox, [projection], logger, {
      messageProcessingDbClientStrategy: clientStrategy,
    });
    shutdowns.push(stopInbox);
    await io.stopSignal;
  } finally {
    stopping = true;
    memory.stop();
    // Each shutdown stops its polling loop and ends its pools (pg waits for checked-out clients,
    // so transactions in progress finish first).
    await Promise.all(shutdowns.map((stop) => stop()));
    await endHandlerPool();
  }
  return { handled, errors, warnings, observed, ...memory.figures() };
});
