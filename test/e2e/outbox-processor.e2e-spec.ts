import type { ModuleMetadata } from '@nestjs/common';
import { ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import { Pool } from 'pg';
import {
  DEFAULT_PROCESSOR_INTERVAL_NAME,
  DrainTimeoutError,
  EventNotFoundError,
  JitterMode,
  OutboxProcessor,
  perEventDispatcher,
  type EventDispatcher,
  type IntegrationModuleOptions,
  type OutboxEventRecord,
  type PublishEventInput,
} from '../../src/integration';
import { OutboxRepository, SettleAction } from '../../src/integration/outbox/outbox.repository';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate, waitFor } from '../support/wait-for';

const ev = (key: string, payload: Record<string, unknown> = {}): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload,
});

describe('OutboxProcessor', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  const boot = async (
    integration: Partial<IntegrationModuleOptions>,
    metadata?: ModuleMetadata,
  ): Promise<IntegrationTestApp> => {
    const t = await createIntegrationApp(db.url, { orm: 'pg', integration, metadata });
    apps.push(t);
    return t;
  };
  const statusCounts = async (): Promise<Record<string, number>> => {
    const { rows } = await pool.query<{ status: string; n: number }>(
      'select status, count(*)::int as n from outbox_event group by status',
    );
    return Object.fromEntries(rows.map((r) => [r.status, r.n]));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await pool.query('truncate outbox_event');
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('two processors drain 5,000 events: every event dispatched, none twice', async () => {
    const seen: string[] = [];
    const dispatcher = perEventDispatcher(async (e) => void seen.push(e.id));
    const a = await boot({ dispatcher, processor: { workerId: 'a', batchSize: 100 } });
    const b = await boot({ dispatcher, processor: { workerId: 'b', batchSize: 100 } });
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
      'select distinct locked_by, attempt_count from outbox_event',
    );
    expect(rows).toEqual([{ locked_by: null, attempt_count: 1 }]);
  });

  it('a processor that dies after claiming: another takes over after the lease, the late settle changes nothing', async () => {
    const held = gate();
    const dispatchedBy: Record<string, string[]> = { a: [], b: [] };
    const slow: EventDispatcher = {
      async dispatchBatch(events) {
        dispatchedBy.a!.push(...events.map((e) => e.id));
        await held.promise; // "dies": never finishes within its lease
        return events.map(() => ({ status: 'processed' as const }));
      },
    };
    const a = await boot({ dispatcher: slow, processor: { workerId: 'a', leaseMs: 60_000 } });
    const b = await boot({
      dispatcher: perEventDispatcher(async (e) => void dispatchedBy.b!.push(e.id)),
      processor: { workerId: 'b' },
    });
    const ids = await publishAll(a, [ev('1'), ev('2'), ev('3')]);
    const aBatch = a.app.get(OutboxProcessor).processBatch();
    await waitFor(() => dispatchedBy.a!.length === 3, 10_000, 'a to claim');

    // While a's lease holds, b gets nothing.
    expect((await b.app.get(OutboxProcessor).processBatch()).claimed).toBe(0);
    // a's lease expires (moved on the database clock instead of waiting 60 s).
    await pool.query(
      "update outbox_event set locked_until = now() - interval '1 second' where locked_by = 'a'",
    );
    const rb = await b.app.get(OutboxProcessor).processBatch();
    expect(rb).toMatchObject({ claimed: 3, processed: 3 });
    expect(dispatchedBy.b!.sort()).toEqual([...ids].sort());
    const before = (
      await pool.query(
        'select id, status, processed_at, attempt_count from outbox_event order by id',
      )
    ).rows;
    expect(before.every((r) => r.status === 'processed' && r.attempt_count === 2)).toBe(true);

    // a wakes up and tries to settle: fenced, nothing changes.
    held.open();
    expect(await aBatch).toMatchObject({ claimed: 3, processed: 0, leaseLost: 3 });
    const after = (
      await pool.query(
        'select id, status, processed_at, attempt_count from outbox_event order by id',
      )
    ).rows;
    expect(after).toEqual(before);
    // The fencing is in SQL too: a settle with a's stale claim touches no row.
    const repo = a.app.get(OutboxRepository);
    expect(
      await repo.settle(
        {
          query: (sql, params) =>
            pool
              .query(sql, params as unknown[])
              .then((r) => ({ rows: r.rows, rowCount: r.rowCount ?? 0 })),
        },
        'a',
        ids.map((id) => ({ id, attempt: 1, action: SettleAction.DeadLetter, error: 'late' })),
      ),
    ).toEqual([]);
  });

  it('a failing dispatch is retried with growing delays on the database clock, dead-lettered, then replayed', async () => {
    let failuresLeft = 4;
    const t = await boot({
      dispatcher: perEventDispatcher(async () => {
        if (failuresLeft-- > 0)
          throw new Error(`downstream unavailable (${failuresLeft + 1} left)`);
      }),
      processor: {
        retry: { baseDelayMs: 1_000, maxDelayMs: 60_000, maxAttempts: 4, jitter: JitterMode.None },
      },
    });
    const [id] = await publishAll(t, [ev('r')]);
    const processor = t.app.get(OutboxProcessor);
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(await processor.processBatch()).toMatchObject({ claimed: 1, retried: 1 });
      const { rows } = await pool.query(
        `select status, attempt_count, last_error,
                (extract(epoch from available_at - updated_at) * 1000)::int as delay_ms
           from outbox_event where id = $1`,
        [id],
      );
      expect(rows[0]).toMatchObject({ status: 'pending', attempt_count: attempt });
      expect(rows[0].last_error).toContain('downstream unavailable');
      delays.push(rows[0].delay_ms);
      // Not due yet: nothing to claim.
      expect((await processor.processBatch()).claimed).toBe(0);
      await pool.query('update outbox_event set available_at = now() where id = $1', [id]);
    }
    expect(delays).toEqual([1_000, 2_000, 4_000]);

    expect(await processor.processBatch()).toMatchObject({ claimed: 1, deadLettered: 1 });
    const dead = (
      await pool.query('select status, attempt_count, last_error from outbox_event where id = $1', [
        id,
      ])
    ).rows[0];
    expect(dead).toEqual({
      status: 'dead_letter',
      attempt_count: 4,
      last_error: 'Error: downstream unavailable (1 left)',
    });
    expect((await processor.getStats()).deadLetter).toBe(1);

    expect(await processor.replay(id!)).toBe(true);
    expect(await processor.replay(id!)).toBe(false); // no longer a dead letter
    await expect(processor.replay('00000000-0000-7000-8000-000000000000')).rejects.toBeInstanceOf(
      EventNotFoundError,
    );
    expect(await processor.drain()).toMatchObject({ processed: 1 });
    expect(
      (await pool.query('select status, attempt_count, last_error from outbox_event')).rows,
    ).toEqual([{ status: 'processed', attempt_count: 1, last_error: null }]);
  });

  it('replayDeadLetters filters by name and aggregate', async () => {
    const t = await boot({
      dispatcher: perEventDispatcher(async () => {
        throw 'plain string failure';
      }),
      processor: { retry: { maxAttempts: 1 } },
    });
    await publishAll(t, [ev('a'), ev('b'), { ...ev('c'), name: 'other.happened' }]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.drain()).toMatchObject({ deadLettered: 3 });
    expect((await pool.query('select distinct last_error from outbox_event')).rows).toEqual([
      { last_error: 'plain string failure' },
    ]);
    expect(
      await processor.replayDeadLetters({ eventName: 'test.happened', aggregateId: 'a' }),
    ).toBe(1);
    expect(await processor.replayDeadLetters({ eventName: 'test.happened' })).toBe(1);
    expect(await processor.replayDeadLetters()).toBe(1);
    expect(await statusCounts()).toEqual({ pending: 3 });
  });

  it('per-key order with two processors, 20 keys x 50 events, one key failing twice first', async () => {
    const delivered = new Map<string, number[]>();
    const inFlight = new Set<string>();
    const violations: string[] = [];
    let k3Failures = 0;
    const handler = async (e: OutboxEventRecord): Promise<void> => {
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
    const retry = { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 5, jitter: JitterMode.None };
    const a = await boot({
      dispatcher: perEventDispatcher(handler),
      processor: { workerId: 'a', batchSize: 37, retry },
    });
    const b = await boot({
      dispatcher: perEventDispatcher(handler),
      processor: { workerId: 'b', batchSize: 23, retry },
    });
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
    const t = await boot({
      dispatcher: perEventDispatcher(async (e) => {
        const { n } = e.payload as { n: number };
        if (n === 0) throw new Error('poison');
        delivered.push(n);
      }),
      processor: { retry: { maxAttempts: 1 } },
    });
    await publishAll(
      t,
      [0, 1, 2].map((n) => ev('same', { n })),
    );
    const result = await t.app.get(OutboxProcessor).drain();
    expect(result).toMatchObject({ deadLettered: 1, processed: 2 });
    expect(delivered).toEqual([1, 2]);
  });

  it('a throwing dispatcher fails the whole batch without stopping anything', async () => {
    const t = await boot({
      dispatcher: {
        dispatchBatch: async () => {
          throw new TypeError('dispatcher bug');
        },
      },
      processor: {
        retry: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None },
      },
    });
    await publishAll(t, [ev('x'), ev('y')]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, retried: 2 });
    expect((await pool.query('select distinct last_error from outbox_event')).rows).toEqual([
      { last_error: 'Dispatcher failed: TypeError: dispatcher bug' },
    ]);
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, deadLettered: 2 });
  });

  it('drain times out with a typed error while another instance holds events', async () => {
    const t = await boot({ processor: { workerId: 'drainer' } });
    await publishAll(t, [ev('held')]);
    await pool.query(
      "update outbox_event set status = 'processing', locked_by = 'other', locked_until = now() + interval '1 hour'",
    );
    await expect(t.app.get(OutboxProcessor).drain({ timeoutMs: 100 })).rejects.toBeInstanceOf(
      DrainTimeoutError,
    );
  });

  it('reports stats and purges processed events in bounded batches', async () => {
    const t = await boot({});
    await publishAll(t, [ev('1'), ev('2'), ev('3'), ev('4')]);
    await pool.query(
      "update outbox_event set available_at = now() + interval '1 hour' where aggregate_id = '4'",
    );
    const processor = t.app.get(OutboxProcessor);
    let stats = await processor.getStats();
    expect(stats).toMatchObject({
      pending: 4,
      processing: 0,
      processed: 0,
      deadLetter: 0,
      running: false,
    });
    expect(stats.oldestPendingAgeMs).toBeGreaterThanOrEqual(0);
    await processor.drain();
    stats = await processor.getStats();
    expect(stats).toMatchObject({ pending: 1, processed: 3, totals: { processed: 3 } });
    expect(await processor.purgeProcessed({ olderThanMs: 3_600_000 })).toBe(0);
    expect(await processor.purgeProcessed({ olderThanMs: 0, batchSize: 2 })).toBe(3);
    expect(await statusCounts()).toEqual({ pending: 1 });
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
    const t = await boot({
      dispatcher: perEventDispatcher(async (e) => void seen.push(e.id)),
      processor: { enabled: true, idlePollIntervalMs: 3_600_000 },
    });
    const processor = t.app.get(OutboxProcessor);
    await waitFor(() => processor.notificationListener?.listening, 10_000, 'LISTEN');
    const [id] = await publishAll(t, [ev('notified')]);
    await waitFor(() => seen.includes(id!), 10_000, 'NOTIFY to wake the processor');
    expect((await processor.getStats()).listening).toBe(true);
  });

  it('reconnects LISTEN after the connection is killed, and keeps delivering', async () => {
    const seen: string[] = [];
    const t = await boot({
      dispatcher: perEventDispatcher(async (e) => void seen.push(e.id)),
      processor: { enabled: true, idlePollIntervalMs: 3_600_000 },
    });
    const processor = t.app.get(OutboxProcessor);
    await waitFor(() => processor.notificationListener?.listening, 10_000, 'LISTEN');
    const pid = await processor.notificationListener!.backendPid();
    await pool.query('select pg_terminate_backend($1)', [pid]);
    await waitFor(
      async () => {
        const now = await processor.notificationListener?.backendPid().catch(() => undefined);
        return now !== undefined && now !== pid;
      },
      15_000,
      'LISTEN to reconnect',
    );
    const [id] = await publishAll(t, [ev('after-reconnect')]);
    await waitFor(() => seen.includes(id!), 10_000, 'delivery after reconnect');
  });

  it('polling alone delivers everything when LISTEN is unavailable', async () => {
    const seen: string[] = [];
    const t = await boot({
      dispatcher: perEventDispatcher(async (e) => void seen.push(e.id)),
      notify: { connection: { connectionString: 'postgres://nobody:wrong@127.0.0.1:1/none' } },
      processor: { enabled: true, idlePollIntervalMs: 50 },
    });
    const ids = await publishAll(t, [ev('p1'), ev('p2')]);
    await waitFor(() => ids.every((id) => seen.includes(id)), 10_000, 'polling to deliver');
    expect((await t.app.get(OutboxProcessor).getStats()).listening).toBe(false);
  });

  it('app.close() waits for a long handler and leaves nothing in processing', async () => {
    const running = gate();
    const finish = gate();
    let finished = false;
    const t = await boot({
      dispatcher: perEventDispatcher(async () => {
        running.open();
        await finish.promise;
        finished = true;
      }),
      processor: { enabled: true, idlePollIntervalMs: 50, shutdownTimeoutMs: 30_000 },
    });
    await publishAll(t, [ev('long'), ev('other-1')]);
    await running.promise;
    const closing = t.close();
    setTimeout(() => finish.open(), 200);
    await closing;
    expect(finished).toBe(true);
    const counts = await statusCounts();
    expect(counts.processing).toBeUndefined();
    expect(counts.processed).toBeGreaterThanOrEqual(1);
  });

  it('on shutdown timeout, claims still held are released to pending with the attempt uncounted', async () => {
    const running = gate();
    const never = gate();
    const t = await boot({
      dispatcher: {
        async dispatchBatch(events) {
          running.open();
          await never.promise;
          return events.map(() => ({ status: 'processed' as const }));
        },
      },
      processor: { enabled: true, idlePollIntervalMs: 50, shutdownTimeoutMs: 100 },
    });
    await publishAll(t, [ev('stuck')]);
    await running.promise;
    await t.close();
    expect(
      (await pool.query('select status, attempt_count, locked_by from outbox_event')).rows,
    ).toEqual([{ status: 'pending', attempt_count: 0, locked_by: null }]);
    never.open();
  });

  it('extends the lease while a slow batch runs, so nobody takes it over', async () => {
    const held = gate();
    const t = await boot({
      dispatcher: {
        async dispatchBatch(events) {
          await held.promise;
          return events.map(() => ({ status: 'processed' as const }));
        },
      },
      processor: { workerId: 'slow', leaseMs: 300 },
    });
    await publishAll(t, [ev('slow')]);
    const batch = t.app.get(OutboxProcessor).processBatch();
    const lease = async () =>
      (
        await pool.query<{ until: number }>(
          "select (extract(epoch from locked_until) * 1000)::float8 as until from outbox_event where status = 'processing'",
        )
      ).rows[0]?.until;
    const first = await waitFor(lease, 10_000, 'the claim');
    await waitFor(async () => ((await lease()) ?? 0) > first, 10_000, 'the lease to be extended');
    held.open();
    expect(await batch).toMatchObject({ processed: 1, leaseLost: 0 });
  });

  it('lists the events of one aggregate in publish order', async () => {
    const t = await boot({});
    const ids = await publishAll(t, [ev('agg', { n: 1 }), ev('other'), ev('agg', { n: 2 })]);
    const events = await t.app.get(OutboxProcessor).findEventsByAggregate('Thing', 'agg');
    expect(events.map((e) => [e.id, e.payload, e.status])).toEqual([
      [ids[0], { n: 1 }, 'pending'],
      [ids[2], { n: 2 }, 'pending'],
    ]);
    expect(events[0]).toMatchObject({
      name: 'test.happened',
      version: 1,
      orderingKey: 'Thing:agg',
      attemptCount: 0,
      lockedBy: null,
    });
    expect(events[0]!.createdAt).toBeInstanceOf(Date);
  });

  it('a key waiting for a retry does not starve other keys, however many of its events queue up', async () => {
    const t = await boot({ processor: { batchSize: 5 } });
    const ids = await publishAll(t, [
      ...Array.from({ length: 10 }, (_, n) => ev('busy', { n })),
      ev('other'),
    ]);
    // The first 'busy' event waits for a retry in a minute; nine more queue behind it.
    await pool.query(
      "update outbox_event set available_at = now() + interval '1 minute', attempt_count = 1 where id = $1",
      [ids[0]],
    );
    const result = await t.app.get(OutboxProcessor).processBatch();
    expect(result).toMatchObject({ claimed: 1, processed: 1 });
    expect(
      (await pool.query("select status from outbox_event where aggregate_id = 'other'")).rows,
    ).toEqual([{ status: 'processed' }]);
    const busy = await pool.query(
      "select count(*)::int as n from outbox_event where aggregate_id = 'busy' and status = 'pending'",
    );
    expect(busy.rows[0].n).toBe(10);
  });

  it('an event hidden from the claim by a row lock holds back the later events of its key only', async () => {
    const t = await boot({ processor: { batchSize: 50 } });
    const ids = await publishAll(t, [
      ev('a', { n: 0 }),
      ev('b', { n: 0 }),
      ev('a', { n: 1 }),
      ev('b', { n: 1 }),
      ev('a', { n: 2 }),
    ]);
    // Another transaction holds a row lock on a's second event (as a claim in flight would):
    // SKIP LOCKED hides it, so a's third event must wait while a's first and b's events go.
    const locker = await pool.connect();
    try {
      await locker.query('begin');
      await locker.query('select 1 from outbox_event where id = $1 for update', [ids[2]]);
      const first = await t.app.get(OutboxProcessor).processBatch();
      expect(first).toMatchObject({ claimed: 3, processed: 3 });
      const pending = await pool.query<{ id: string }>(
        "select id::text as id from outbox_event where status = 'pending' order by seq",
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
    const t = await boot({
      dispatcher: perEventDispatcher(async (e) => {
        seen.push((e.payload as { n: number }).n);
      }),
      processor: { batchSize: 40 },
    });
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
    const t = await boot({
      processor: { enabled: true, idlePollIntervalMs: 3_600_000, startupDrain: false },
    });
    const processor = t.app.get(OutboxProcessor);
    await processor.stop();
    await publishAll(t, [ev('after-stop')]);
    expect(await processor.drain({ timeoutMs: 5_000 })).toMatchObject({ processed: 1 });
    // A dispatcher that always defers: claims keep coming, the deadline still ends the drain.
    const deferring = await boot({
      dispatcher: {
        dispatchBatch: async (events) => events.map(() => ({ status: 'deferred' as const })),
      },
    });
    await publishAll(deferring, [ev('forever')]);
    await expect(
      deferring.app.get(OutboxProcessor).drain({ timeoutMs: 300 }),
    ).rejects.toBeInstanceOf(DrainTimeoutError);
  });

  it('processor.enabled: false runs no loop, but processBatch and drain still work', async () => {
    const t = await boot(
      { processor: { enabled: false, idlePollIntervalMs: 10 } },
      { imports: [ScheduleModule.forRoot()] },
    );
    await publishAll(t, [ev('manual')]);
    expect(t.app.get(SchedulerRegistry).getIntervals()).toEqual([]);
    expect(await statusCounts()).toEqual({ pending: 1 });
    await t.app.get(OutboxProcessor).drain();
    expect(await statusCounts()).toEqual({ processed: 1 });
  });
});
