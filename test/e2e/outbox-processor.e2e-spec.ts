import type { ModuleMetadata, Provider } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Client, Pool } from 'pg';
import {
  ConsumerDirectory,
  DEFAULT_PROCESSOR_INTERVAL_NAME,
  DomainEventPublisher,
  DrainTimeoutError,
  EventNotFoundError,
  EventSubscriberRegistry,
  IntegrationAdminService,
  IntegrationLifecycle,
  JitterMode,
  OutboxProcessor,
  ProcessorState,
  type ConsumerOptions,
  type IntegrationEvent,
  type IntegrationEventHandlerFn,
  type IntegrationLifecycleEvent,
  type IntegrationModuleOptions,
  type PublishEventInput,
} from '../../src/integration';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { DeliveryRepository } from '../../src/integration/processing/delivery.repository';
import { ConsumerRunners } from '../../src/integration/processing/runners/consumer-runners';
import { withDatabase } from '../../src/database/database-url';
import { bootWithLogger, CaptureLogger } from '../support/capture-logger';
import {
  createIntegrationApp,
  createOrm,
  publishAll,
  type IntegrationTestApp,
  registerCatchAll,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate, waitFor } from '../support/wait-for';

const ev = (key: string, payload: Record<string, unknown> = {}): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload,
});

/** A consumer of every event, registered when the app is built (before its processor starts). */
interface TestConsumer {
  readonly name: string;
  readonly handle: IntegrationEventHandlerFn;
  readonly options?: ConsumerOptions;
}

/** The provider that registers `consumer` in the app's registry as the app is built. */
const consumerProvider = ({ name, handle, options = {} }: TestConsumer): Provider => ({
  provide: `test-consumer:${name}`,
  inject: [EventSubscriberRegistry],
  useFactory: (registry: EventSubscriberRegistry) =>
    registerCatchAll(registry, handle, { ...options, name }),
});

/** Consumer `c`, with `handle` (one that does nothing by default). */
const consumer = (
  handle: IntegrationEventHandlerFn = () => undefined,
  options?: ConsumerOptions,
): TestConsumer => ({ name: 'c', handle, options });
describe('OutboxProcessor', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  const boot = async (
    integration: Partial<IntegrationModuleOptions>,
    consumers: readonly TestConsumer[] = [],
    metadata: ModuleMetadata = {},
  ): Promise<IntegrationTestApp> => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration,
      metadata: { ...metadata, providers: consumers.map(consumerProvider) },
    });
    apps.push(t);
    return t;
  };
  /** Deliveries per status. */
  const statusCounts = async (): Promise<Record<string, number>> => {
    const { rows } = await pool.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from integration_delivery group by status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  };
  /** Consumer c's delivery of event `id`. */
  const deliveryOf = async (id: string) =>
    (
      await pool.query<{
        status: string;
        attempt_count: number;
        last_error: string | null;
        locked_by: string | null;
      }>(
        `select status, attempt_count, last_error, locked_by from integration_delivery
          where event_id = $1 and consumer_name = 'c'`,
        [id],
      )
    ).rows[0];
  /** Announces the app's consumers and fans the committed events out to them, claiming nothing. */
  const fanOut = async (t: IntegrationTestApp): Promise<void> => {
    await t.app.get(ConsumerDirectory).announceHosted();
    await t.app.get(DeliveryPipeline).sequence();
  };
  /** Makes consumer c's runner report `run`'s answer instead of running the handlers. */
  const replaceRunner = (
    t: IntegrationTestApp,
    run: (deliveries: readonly unknown[]) => Promise<unknown>,
  ): void => {
    jest
      .spyOn(t.app.get(ConsumerRunners), 'runnerFor')
      .mockReturnValue({ run: (batch) => run(batch.deliveries) as never });
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    while (apps.length) await apps.pop()!.close();
    await pool.query(
      'truncate outbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('two processors drain 5,000 events: every event dispatched, none twice', async () => {
    const seen: string[] = [];
    const c = consumer((e) => void seen.push(e.id));
    const a = await boot({ processor: { workerId: 'a', batchSize: 100 } }, [c]);
    const b = await boot({ processor: { workerId: 'b', batchSize: 100 } }, [c]);
    const ids: string[] = [];
    for (let chunk = 0; chunk < 5; chunk++) {
      ids.push(
        ...(await publishAll(
          a,
          Array.from({ length: 1_000 }, (_, i) => ev(`k-${chunk}-${i}`)),
        )),
      );
    }
    const [ra, rb] = await Promise.all([
      a.app.get(OutboxProcessor).drain({ timeoutMs: 120_000 }),
      b.app.get(OutboxProcessor).drain({ timeoutMs: 120_000 }),
    ]);
    expect(new Set(seen).size).toBe(seen.length);
    expect(new Set(seen)).toEqual(new Set(ids));
    expect(ra.processed + rb.processed).toBe(5_000);
    expect(ra.processed).toBeGreaterThan(0);
    expect(rb.processed).toBeGreaterThan(0);
    expect(await statusCounts()).toEqual({ processed: 5_000 });
    const { rows } = await pool.query<{ locked_by: string | null; attempt_count: number }>(
      'select distinct locked_by, attempt_count from integration_delivery',
    );
    expect(rows).toEqual([{ locked_by: null, attempt_count: 1 }]);
  });

  it('a processor that dies after claiming: another takes over after the lease, the late settle changes nothing', async () => {
    const held = gate();
    const dispatchedBy: Record<string, string[]> = { a: [], b: [] };
    // Without a transaction (as a call to another system): the settle writes the outcome.
    const options: ConsumerOptions = { transactional: false };
    const a = await boot({ processor: { workerId: 'a', leaseMs: 60_000 } }, [
      consumer(async (e) => {
        dispatchedBy.a!.push(e.id);
        await held.promise; // "dies": never finishes within its lease
      }, options),
    ]);
    const b = await boot({ processor: { workerId: 'b' } }, [
      consumer((e) => void dispatchedBy.b!.push(e.id), options),
    ]);
    const ids = await publishAll(a, [ev('1'), ev('2'), ev('3')]);
    const aBatch = a.app.get(OutboxProcessor).processBatch();
    // a claimed all three; its first handler runs (the runner takes them one after another).
    await waitFor(
      async () =>
        dispatchedBy.a!.length === 1 &&
        (
          await pool.query(
            "select 1 from integration_delivery where locked_by = 'a' and status = 'processing'",
          )
        ).rowCount === 3,
      10_000,
      'a to claim',
    );

    // While a's lease holds, b gets nothing.
    expect((await b.app.get(OutboxProcessor).processBatch()).claimed).toBe(0);
    // a's lease expires (moved on the database clock instead of waiting 60 s).
    await pool.query(
      "update integration_delivery set locked_until = now() - interval '1 second' where locked_by = 'a'",
    );
    const rb = await b.app.get(OutboxProcessor).processBatch();
    expect(rb).toMatchObject({ claimed: 3, processed: 3 });
    expect(dispatchedBy.b!.sort()).toEqual([...ids].sort());
    const snapshot = async () =>
      (
        await pool.query(
          'select event_id, status, processed_at, attempt_count, locked_by from integration_delivery order by event_id',
        )
      ).rows;
    const before = await snapshot();
    expect(before.every((r) => r.status === 'processed' && r.attempt_count === 2)).toBe(true);

    // a wakes up and tries to settle: fenced, nothing changes.
    held.open();
    expect(await aBatch).toMatchObject({ claimed: 3, processed: 0, leaseLost: 3 });
    expect(await snapshot()).toEqual(before);
    // The fencing is in SQL too: a settle with a's stale claim touches no row.
    const repo = a.app.get(DeliveryRepository);
    expect(
      await repo.settle(
        a.orm.adapter.root,
        'a',
        ids.map((id) => ({
          eventId: id,
          consumer: 'c',
          attempt: 1,
          decision: { action: 'dead-letter', error: 'late' },
        })),
      ),
    ).toEqual([]);
  });

  it('a failing handler is retried with growing delays on the database clock, dead-lettered, then replayed', async () => {
    let failuresLeft = 4;
    const t = await boot(
      {
        processor: {
          retry: {
            baseDelayMs: 1_000,
            maxDelayMs: 60_000,
            maxAttempts: 4,
            jitter: JitterMode.None,
          },
        },
      },
      [
        consumer(() => {
          if (failuresLeft-- > 0)
            throw new Error(`downstream unavailable (${failuresLeft + 1} left)`);
        }),
      ],
    );
    const [id] = await publishAll(t, [ev('r')]);
    const processor = t.app.get(OutboxProcessor);
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await processor.processBatch()).toMatchObject({ claimed: 1, retried: 1 });
      const { rows } = await pool.query(
        `select status, attempt_count, last_error,
                (extract(epoch from available_at - updated_at) * 1000)::int as delay_ms
           from integration_delivery where event_id = $1`,
        [id],
      );
      expect(rows[0]).toMatchObject({ status: 'pending', attempt_count: attempt });
      expect(rows[0].last_error).toContain('downstream unavailable');
      delays.push(rows[0].delay_ms);
      // Not due yet: nothing to claim.
      expect((await processor.processBatch()).claimed).toBe(0);
      await pool.query('update integration_delivery set available_at = now() where event_id = $1', [
        id,
      ]);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000]);

    expect(await processor.processBatch()).toMatchObject({ claimed: 1, deadLettered: 1 });
    expect(await deliveryOf(id!)).toEqual({
      status: 'dead_letter',
      attempt_count: 4,
      last_error: 'Error: downstream unavailable (1 left)',
      locked_by: null,
    });
    const admin = t.app.get(IntegrationAdminService);
    expect((await admin.getStats()).consumers).toEqual([
      expect.objectContaining({ consumer: 'c', deadLetter: 1, pending: 0 }),
    ]);

    expect(await admin.replay(id!)).toBe(1);
    expect(await admin.replay(id!)).toBe(0); // no longer a dead letter
    await expect(admin.replay('00000000-0000-7000-8000-000000000000')).rejects.toBeInstanceOf(
      EventNotFoundError,
    );
    expect(await processor.drain()).toMatchObject({ processed: 1 });
    expect(await deliveryOf(id!)).toEqual({
      status: 'processed',
      attempt_count: 1,
      last_error: null,
      locked_by: null,
    });
  });

  it('replayDeadLetters filters by name and aggregate', async () => {
    const t = await boot({ processor: { retry: { maxAttempts: 1 } } }, [
      consumer(() => {
        throw 'plain string failure';
      }),
    ]);
    await publishAll(t, [ev('a'), ev('b'), { ...ev('c'), name: 'other.happened' }]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.drain()).toMatchObject({ deadLettered: 3 });
    expect((await pool.query('select distinct last_error from integration_delivery')).rows).toEqual(
      [{ last_error: 'plain string failure' }],
    );
    const admin = t.app.get(IntegrationAdminService);
    expect(await admin.replayDeadLetters({ eventName: 'test.happened', aggregateId: 'a' })).toBe(1);
    expect(await admin.replayDeadLetters({ eventName: 'test.happened' })).toBe(1);
    expect(await admin.replayDeadLetters()).toBe(1);
    expect(await statusCounts()).toEqual({ pending: 3 });
  });

  it('per-key order with two processors, 20 keys x 50 events, one key failing twice first', async () => {
    const delivered = new Map<string, number[]>();
    const inFlight = new Set<string>();
    const violations: string[] = [];
    let k3Failures = 0;
    const handler = async (e: IntegrationEvent): Promise<void> => {
      if (inFlight.has(e.orderingKey)) violations.push(`concurrent ${e.orderingKey}`);
      inFlight.add(e.orderingKey);
      try {
        await new Promise((r) => setImmediate(r));
        const { key, n } = e.payload as { key: string; n: number };
        if (key === 'k3' && n === 0 && k3Failures < 2) {
          k3Failures++;
          throw new Error('k3 first event fails');
        }
        delivered.set(key, [...(delivered.get(key) ?? []), n]);
      } finally {
        inFlight.delete(e.orderingKey);
      }
    };
    // Each event in its own transaction, so a delivered event is never rolled back with another.
    const c = consumer(handler, { transactional: 'per-event' });
    const retry = { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 5, jitter: JitterMode.None };
    const a = await boot({ processor: { workerId: 'a', batchSize: 37, retry } }, [c]);
    const b = await boot({ processor: { workerId: 'b', batchSize: 23, retry } }, [c]);
    // Interleaved publishing: event n of every key, then n + 1, ...
    const events: PublishEventInput[] = [];
    for (let n = 0; n < 50; n++)
      for (let k = 0; k < 20; k++) events.push(ev(`k${k}`, { key: `k${k}`, n }));
    await publishAll(a, events);
    await Promise.all([
      a.app.get(OutboxProcessor).drain({ timeoutMs: 60_000 }),
      b.app.get(OutboxProcessor).drain({ timeoutMs: 60_000 }),
    ]);
    expect(violations).toEqual([]);
    expect(k3Failures).toBe(2);
    for (let k = 0; k < 20; k++)
      expect(delivered.get(`k${k}`)).toEqual(Array.from({ length: 50 }, (_, n) => n));
    expect(await statusCounts()).toEqual({ processed: 1_000 });
  });

  it('a dead-lettered event stops blocking its key', async () => {
    const delivered: number[] = [];
    const t = await boot({ processor: { retry: { maxAttempts: 1 } } }, [
      consumer((e) => {
        const { n } = e.payload as { n: number };
        if (n === 0) throw new Error('poison');
        delivered.push(n);
      }),
    ]);
    await publishAll(
      t,
      [0, 1, 2].map((n) => ev('same', { n })),
    );
    const result = await t.app.get(OutboxProcessor).drain();
    expect(result).toMatchObject({ deadLettered: 1, processed: 2 });
    expect(delivered).toEqual([1, 2]);
  });

  it('a throwing runner fails the consumer’s whole share without stopping anything', async () => {
    const t = await boot(
      {
        processor: {
          retry: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None },
        },
      },
      [consumer()],
    );
    replaceRunner(t, async () => {
      throw new TypeError('runner bug');
    });
    await publishAll(t, [ev('x'), ev('y')]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, retried: 2 });
    expect((await pool.query('select distinct last_error from integration_delivery')).rows).toEqual(
      [{ last_error: 'Consumer c failed outside its handlers: runner bug' }],
    );
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, deadLettered: 2 });
  });

  it('drain times out with a typed error while another instance holds events', async () => {
    const t = await boot({ processor: { workerId: 'drainer' } }, [consumer()]);
    await publishAll(t, [ev('held')]);
    await fanOut(t);
    await pool.query(
      "update integration_delivery set status = 'processing', attempt_count = 1, locked_by = 'other', locked_until = now() + interval '1 hour'",
    );
    await expect(t.app.get(OutboxProcessor).drain({ timeoutMs: 100 })).rejects.toBeInstanceOf(
      DrainTimeoutError,
    );
  });

  it('reports stats and purges processed events in bounded batches', async () => {
    const t = await boot({}, [consumer()]);
    const admin = t.app.get(IntegrationAdminService);
    await publishAll(t, [ev('1'), ev('2'), ev('3'), ev('4')]);
    expect((await admin.getStats()).unsequenced).toBe(4);
    await fanOut(t);
    await pool.query(
      `update integration_delivery set available_at = now() + interval '1 hour'
        where event_id = (select id from outbox_event where aggregate_id = '4')`,
    );
    const processor = t.app.get(OutboxProcessor);
    let stats = await admin.getStats();
    expect(stats).toEqual({
      unsequenced: 0,
      consumers: [
        {
          consumer: 'c',
          pending: 4,
          processing: 0,
          processed: 0,
          deadLetter: 0,
          skipped: 0,
          oldestPendingAgeMs: expect.any(Number),
        },
      ],
    });
    expect(stats.consumers[0]!.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    expect(processor.state).toBe(ProcessorState.Stopped);
    expect(await processor.drain()).toMatchObject({ processed: 3 });
    stats = await admin.getStats();
    expect(stats.consumers).toEqual([expect.objectContaining({ pending: 1, processed: 3 })]);
    expect(await admin.purgeProcessed({ olderThanMs: 3_600_000 })).toBe(0);
    expect(await admin.purgeProcessed({ olderThanMs: 0, batchSize: 2 })).toBe(3);
    expect(await statusCounts()).toEqual({ pending: 1 });
    const left = await pool.query<{ aggregate_id: string }>(
      'select aggregate_id from outbox_event',
    );
    expect(left.rows).toEqual([{ aggregate_id: '4' }]);
  });

  it('registers its polling interval in SchedulerRegistry and removes it on close', async () => {
    const t = await boot(
      {
        processor: {
          enabled: true,
          idlePollIntervalMs: 50,
          purge: { enabled: true, intervalMs: 1_000 },
        },
      },
      [consumer()],
      { imports: [ScheduleModule.forRoot()] },
    );
    const registry = t.app.get(SchedulerRegistry);
    expect(registry.getIntervals()).toEqual(
      expect.arrayContaining([DEFAULT_PROCESSOR_INTERVAL_NAME]),
    );
    expect(t.app.get(OutboxProcessor).isRunning).toBe(true);
    await publishAll(t, [ev('polled')]);
    await waitFor(async () => (await statusCounts()).processed === 1, 10_000, 'polling to deliver');
    await t.close();
    expect(registry.getIntervals()).toEqual([]);
  });

  it('is woken by NOTIFY on commit (polling effectively off)', async () => {
    const seen: string[] = [];
    const t = await boot({ processor: { enabled: true, idlePollIntervalMs: 3_600_000 } }, [
      consumer((e) => void seen.push(e.id)),
    ]);
    const processor = t.app.get(OutboxProcessor);
    await waitFor(() => processor.listening, 10_000, 'LISTEN');
    const [id] = await publishAll(t, [ev('notified')]);
    await waitFor(() => seen.includes(id!), 10_000, 'NOTIFY to wake the processor');
    expect(processor.listening).toBe(true);
  });

  it('a publish inside notify.windowMs sends no NOTIFY; the follow-up poll delivers it (polling effectively off)', async () => {
    const seen: string[] = [];
    const t = await boot(
      { notify: { windowMs: 1_000 }, processor: { enabled: true, idlePollIntervalMs: 3_600_000 } },
      [consumer((e) => void seen.push(e.id))],
    );
    await waitFor(() => t.app.get(OutboxProcessor).listening, 10_000, 'LISTEN');
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    const notifications: string[] = [];
    listener.on('notification', (n) => notifications.push(n.channel));
    try {
      await listener.query('LISTEN integration_outbox');
      const [first] = await publishAll(t, [ev('first')]);
      await waitFor(() => seen.includes(first!), 10_000, 'NOTIFY to wake the processor');
      // Its own transaction, within a second of the first publish: no NOTIFY.
      const [second] = await publishAll(t, [ev('second')]);
      await waitFor(() => seen.includes(second!), 10_000, 'a follow-up poll to deliver it');
      await listener.query('SELECT 1'); // notifications sent before now have arrived
      expect(notifications).toEqual(['integration_outbox']);
    } finally {
      await listener.end();
    }
  });

  it('announces a publish made in the window of a transaction that never commits (the closing NOTIFY)', async () => {
    const seen: string[] = [];
    const t = await boot(
      { notify: { windowMs: 200 }, processor: { enabled: true, idlePollIntervalMs: 3_600_000 } },
      [consumer((e) => void seen.push(e.id))],
    );
    await waitFor(() => t.app.get(OutboxProcessor).listening, 10_000, 'LISTEN');
    const publisher = t.app.get(DomainEventPublisher);
    const opener = await pool.connect();
    try {
      await opener.query('BEGIN');
      // Opens the window: its NOTIFY would go out when it commits, and it never does.
      const rolledBack = await publisher.publish(opener, ev('rolled-back'));
      // Within the window, in a transaction of its own that commits: it sends no NOTIFY.
      const [inside] = await publishAll(t, [ev('inside')]);
      // Nothing else wakes the processor: no poll for an hour, and no follow-up poll (it has
      // found nothing yet). The window's closing NOTIFY, 2 s of quiet later, does.
      await waitFor(
        () => seen.includes(inside!),
        15_000,
        'the closing NOTIFY to wake the processor',
      );
      await opener.query('ROLLBACK');
      expect(seen).not.toContain(rolledBack);
    } finally {
      opener.release();
    }
  });

  it('warns once while the closing NOTIFY cannot be sent, and logs when it is sent again', async () => {
    // The module's root pool, named so that its connections can be told from the test's.
    const rootUrl = new URL(db.url);
    rootUrl.searchParams.set('application_name', 'closing_notify_root');
    const orm = createOrm('pg', rootUrl.toString());
    const logs = new CaptureLogger();
    const windowMs = 200;
    const booted = await bootWithLogger(orm, logs, { notify: { windowMs } });
    const publisher = booted.app.get(DomainEventPublisher);
    const closingFailures = () => logs.matching(/Could not send the NOTIFY/u);
    // Connections opened before the database refuses new ones: the callers' transactions.
    const callers = [await pool.connect(), await pool.connect()];
    // On another database: a session cannot disallow connections to its own.
    const admin = new Client({ connectionString: withDatabase(db.url, 'postgres') });
    await admin.connect();
    const database = admin.escapeIdentifier(db.name);
    /** Publishes twice at once: the first opens a window, the second sends no NOTIFY. */
    const publishInWindow = async (): Promise<void> => {
      for (const caller of callers) {
        await caller.query('BEGIN');
        await publisher.publish(caller, ev('k'));
      }
      for (const caller of callers) await caller.query('COMMIT');
    };
    /** Longer than the quiet spell after which the window sends its closing NOTIFY. */
    const quietSpell = () => new Promise((resolve) => setTimeout(resolve, windowMs * 15));
    try {
      // The root pool's connections go away, and no new one is let in: the closing NOTIFY,
      // which goes through the root pool, fails.
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
          WHERE application_name = 'closing_notify_root'`,
      );
      await publishInWindow();
      await waitFor(() => closingFailures().length === 1, 10_000, 'the first failure logged');
      // The next quiet spell's closing NOTIFY fails too, without a second warning.
      await publishInWindow();
      await quietSpell();
      expect(closingFailures()).toHaveLength(1);
      expect(closingFailures()[0]!.level).toBe('warn');
      expect(closingFailures()[0]!.message).toMatch(/the processors' polls pick them up/u);

      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await publishInWindow();
      await waitFor(
        () => logs.matching(/sent again after 2 failure\(s\)/u).length === 1,
        10_000,
        'the recovery logged',
      );
      expect(closingFailures()).toHaveLength(1);
    } finally {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await admin.end();
      for (const caller of callers) caller.release();
      await booted.close();
      await orm.close();
    }
  });

  it('reconnects LISTEN after the connection is killed, and keeps delivering', async () => {
    const seen: string[] = [];
    const events: IntegrationLifecycleEvent[] = [];
    const t = await boot({ processor: { enabled: true, idlePollIntervalMs: 3_600_000 } }, [
      consumer((e) => void seen.push(e.id)),
    ]);
    t.app.get(IntegrationLifecycle).subscribe({ onEvent: (e) => events.push(e) });
    const processor = t.app.get(OutboxProcessor);
    await waitFor(() => processor.listening, 10_000, 'LISTEN');
    // The LISTEN connection: the one session of this database listening on a channel.
    const listeners = async (): Promise<number[]> =>
      (
        await pool.query<{ pid: number }>(
          `select pid from pg_stat_activity
            where datname = current_database() and query ilike 'LISTEN %' and pid <> pg_backend_pid()`,
        )
      ).rows.map((r) => r.pid);
    const pid = await waitFor(async () => {
      const pids = await listeners();
      return pids.length === 1 ? pids[0] : undefined;
    });
    await pool.query('select pg_terminate_backend($1)', [pid]);
    await waitFor(
      () => events.some((e) => e.type === 'listener.up' && e.reconnected) && processor.listening,
      15_000,
      'LISTEN to reconnect',
    );
    expect(events.some((e) => e.type === 'listener.down')).toBe(true);
    expect(await listeners()).not.toContain(pid);
    const [id] = await publishAll(t, [ev('after-reconnect')]);
    await waitFor(() => seen.includes(id!), 10_000, 'delivery after reconnect');
  });

  it('polling alone delivers everything when LISTEN is unavailable', async () => {
    const seen: string[] = [];
    const t = await boot(
      {
        notify: { connection: { connectionString: 'postgres://nobody:wrong@127.0.0.1:1/none' } },
        processor: { enabled: true, idlePollIntervalMs: 50 },
      },
      [consumer((e) => void seen.push(e.id))],
    );
    const ids = await publishAll(t, [ev('p1'), ev('p2')]);
    await waitFor(() => ids.every((id) => seen.includes(id)), 10_000, 'polling to deliver');
    expect(t.app.get(OutboxProcessor).listening).toBe(false);
  });

  it('app.close() waits for a long handler and leaves nothing in processing', async () => {
    const running = gate();
    const finish = gate();
    let finished = false;
    // One transaction per event: the long handler's work commits on its own once it ends.
    const t = await boot(
      { processor: { enabled: true, idlePollIntervalMs: 50, shutdownTimeoutMs: 30_000 } },
      [
        consumer(
          async (e) => {
            if (e.aggregateId !== 'long') return;
            running.open();
            await finish.promise;
            finished = true;
          },
          { transactional: 'per-event' },
        ),
      ],
    );
    await publishAll(t, [ev('long'), ev('other-1')]);
    await running.promise;
    const closing = t.close();
    setTimeout(() => finish.open(), 200);
    await closing;
    expect(finished).toBe(true);
    const counts = await statusCounts();
    expect(counts.processing).toBeUndefined();
    expect(counts.processed).toBeGreaterThanOrEqual(1);
    const [long] = (
      await pool.query<{ id: string }>(
        "select id::text from outbox_event where aggregate_id = 'long'",
      )
    ).rows as [{ id: string }];
    expect((await deliveryOf(long.id))!.status).toBe('processed');
  });

  it('on shutdown timeout, claims still held are released to pending with the attempt uncounted', async () => {
    const running = gate();
    const never = gate();
    // Without a transaction: a stuck handler holds no row lock, only its lease.
    const t = await boot(
      { processor: { enabled: true, idlePollIntervalMs: 50, shutdownTimeoutMs: 100 } },
      [
        consumer(
          async () => {
            running.open();
            await never.promise;
          },
          { transactional: false },
        ),
      ],
    );
    await publishAll(t, [ev('stuck')]);
    await running.promise;
    await t.close();
    expect(
      (await pool.query('select status, attempt_count, locked_by from integration_delivery')).rows,
    ).toEqual([{ status: 'pending', attempt_count: 0, locked_by: null }]);
    never.open();
  });

  it('extends the lease while a slow batch runs, so nobody takes it over', async () => {
    const held = gate();
    // Without a transaction, the lease alone keeps other instances off the delivery.
    const t = await boot({ processor: { workerId: 'slow', leaseMs: 300 } }, [
      consumer(() => held.promise, { transactional: false }),
    ]);
    await publishAll(t, [ev('slow')]);
    const batch = t.app.get(OutboxProcessor).processBatch();
    const lease = async () =>
      (
        await pool.query<{ until: number }>(
          "select (extract(epoch from locked_until) * 1000)::float8 as until from integration_delivery where status = 'processing'",
        )
      ).rows[0]?.until;
    const first = await waitFor(lease, 10_000, 'the claim');
    await waitFor(async () => ((await lease()) ?? 0) > first, 10_000, 'the lease to be extended');
    held.open();
    expect(await batch).toMatchObject({ processed: 1, leaseLost: 0 });
  });

  it('lists the events of one aggregate in publish order', async () => {
    const t = await boot({}, [consumer()]);
    const ids = await publishAll(t, [ev('agg', { n: 1 }), ev('other'), ev('agg', { n: 2 })]);
    await fanOut(t);
    const events = await t.app.get(IntegrationAdminService).findEventsByAggregate('Thing', 'agg');
    expect(
      events.map((e) => [e.event.id, e.event.payload, e.deliveries.map((d) => d.status)]),
    ).toEqual([
      [ids[0], { n: 1 }, ['pending']],
      [ids[2], { n: 2 }, ['pending']],
    ]);
    expect(events[0]!.event).toMatchObject({
      name: 'test.happened',
      version: 1,
      orderingKey: 'Thing:agg',
    });
    expect(events[0]!.event.createdAt).toBeInstanceOf(Date);
    expect(events[0]!.deliveries[0]).toMatchObject({
      eventId: ids[0],
      consumer: 'c',
      attemptCount: 0,
      lockedBy: null,
    });
  });

  it('a key waiting for a retry does not starve other keys, however many of its events queue up', async () => {
    const t = await boot({ processor: { batchSize: 5 } }, [consumer()]);
    const ids = await publishAll(t, [
      ...Array.from({ length: 10 }, (_, n) => ev('busy', { n })),
      ev('other'),
    ]);
    await fanOut(t);
    // The first 'busy' event waits for a retry in a minute; nine more queue behind it.
    await pool.query(
      "update integration_delivery set available_at = now() + interval '1 minute', attempt_count = 1 where event_id = $1",
      [ids[0]],
    );
    const result = await t.app.get(OutboxProcessor).processBatch();
    expect(result).toMatchObject({ claimed: 1, processed: 1 });
    expect((await deliveryOf(ids[10]!))!.status).toBe('processed');
    const busy = await pool.query(
      `select count(*)::int as n from integration_delivery d join outbox_event o on o.id = d.event_id
        where o.aggregate_id = 'busy' and d.status = 'pending'`,
    );
    expect(busy.rows[0].n).toBe(10);
  });

  it('an event hidden from the claim by a row lock holds back the later events of its key only', async () => {
    const t = await boot({ processor: { batchSize: 50 } }, [consumer()]);
    const ids = await publishAll(t, [
      ev('a', { n: 0 }),
      ev('b', { n: 0 }),
      ev('a', { n: 1 }),
      ev('b', { n: 1 }),
      ev('a', { n: 2 }),
    ]);
    await fanOut(t);
    // Another transaction holds a row lock on a's second delivery (as a claim in flight would):
    // SKIP LOCKED hides it, so a's third must wait while a's first and b's deliveries go.
    const locker = await pool.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from integration_delivery where event_id = $1 for update', [
        ids[2],
      ]);
      const first = await t.app.get(OutboxProcessor).processBatch();
      expect(first).toMatchObject({ claimed: 3, processed: 3 });
      const pending = await pool.query<{ id: string }>(
        "select event_id::text as id from integration_delivery where status = 'pending' order by position",
      );
      expect(pending.rows.map((r) => r.id)).toEqual([ids[2], ids[4]]);
    } finally {
      await locker.query('rollback');
      locker.release();
    }
    expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
      claimed: 2,
      processed: 2,
    });
    expect(await statusCounts()).toEqual({ processed: 5 });
  });

  it('claims a batch out of a key with many unfinished events in order, up to the batch size', async () => {
    const seen: number[] = [];
    const t = await boot({ processor: { batchSize: 40 } }, [
      consumer((e) => {
        seen.push((e.payload as { n: number }).n);
      }),
    ]);
    // 90 events of one hot key, every tenth event on a key of its own.
    await publishAll(
      t,
      Array.from({ length: 100 }, (_, n) => ev(n % 10 === 9 ? `solo-${n}` : 'hot', { n })),
    );
    const hot = (): number[] => seen.filter((n) => n % 10 !== 9);
    const first = await t.app.get(OutboxProcessor).processBatch();
    expect(first).toMatchObject({ claimed: 40, processed: 40 });
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, n) => n));
    expect(hot()).toEqual(Array.from({ length: 40 }, (_, n) => n).filter((n) => n % 10 !== 9));
    await t.app.get(OutboxProcessor).drain();
    expect(hot()).toEqual(Array.from({ length: 100 }, (_, n) => n).filter((n) => n % 10 !== 9));
    expect(seen).toHaveLength(100);
  });

  it('drain() works after stop() and honours its timeout while batches keep coming', async () => {
    const t = await boot(
      { processor: { enabled: true, idlePollIntervalMs: 3_600_000, startupDrain: false } },
      [consumer()],
    );
    const processor = t.app.get(OutboxProcessor);
    await processor.stop();
    expect(processor.state).toBe(ProcessorState.Stopped);
    await publishAll(t, [ev('after-stop')]);
    expect(await processor.drain({ timeoutMs: 5_000 })).toMatchObject({ processed: 1 });
    // A runner that never starts anything: claims keep coming, the deadline still ends the drain.
    const releasing = await boot({ processor: { workerId: 'releasing' } }, [consumer()]);
    replaceRunner(releasing, async (deliveries) => deliveries.map(() => ({ kind: 'not-started' })));
    await publishAll(releasing, [ev('forever')]);
    await expect(
      releasing.app.get(OutboxProcessor).drain({ timeoutMs: 300 }),
    ).rejects.toBeInstanceOf(DrainTimeoutError);
    expect(await statusCounts()).toEqual({ processed: 1, pending: 1 });
  });

  it('processor.enabled: false runs no loop, but processBatch and drain still work', async () => {
    const t = await boot({ processor: { enabled: false, idlePollIntervalMs: 10 } }, [consumer()], {
      imports: [ScheduleModule.forRoot()],
    });
    await publishAll(t, [ev('manual')]);
    expect(t.app.get(SchedulerRegistry).getIntervals()).toEqual([]);
    expect(t.app.get(OutboxProcessor).state).toBe(ProcessorState.Stopped);
    expect((await t.app.get(IntegrationAdminService).getStats()).unsequenced).toBe(1);
    expect(await statusCounts()).toEqual({});
    await t.app.get(OutboxProcessor).drain();
    expect(await statusCounts()).toEqual({ processed: 1 });
  });
});
