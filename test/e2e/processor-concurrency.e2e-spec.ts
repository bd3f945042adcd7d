import { Pool, type PoolClient } from 'pg';
import {
  ConsumerDirectory,
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationAdminService,
  OutboxProcessor,
  pgAdapter,
  type ConsumerOptions,
  type IntegrationEvent,
  type IntegrationEventHandlerFn,
  type IntegrationModuleOptions,
  type PublishEventInput,
} from '../../src/integration';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
  registerCatchAll,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate, waitFor } from '../support/wait-for';

const ev = (key: string, n = 0): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload: { n },
});

/**
 * Registers consumer `name` with one handler of every event. Call it before the processor's
 * first cycle (or `start()`): that is when it announces its consumers, and the sequencer fans
 * events out only to announced consumers.
 */
function addConsumer<TTx = unknown>(
  t: IntegrationTestApp,
  name: string,
  handle: IntegrationEventHandlerFn<unknown, TTx>,
  options: ConsumerOptions = {},
): void {
  registerCatchAll<TTx>(t.app.get(EventSubscriberRegistry), handle, { ...options, name });
}

/** Paths added for throughput: concurrent batches, the savepoint-free first pass, prepared statements. */
describe('processor throughput paths', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  /** Processed deliveries of `consumer`, from the admin statistics. */
  const processedBy = async (t: IntegrationTestApp, consumer: string): Promise<number> =>
    (await t.app.get(IntegrationAdminService).getStats()).consumers.find(
      (c) => c.consumer === consumer,
    )?.processed ?? 0;

  const boot = async (
    integration: Partial<IntegrationModuleOptions>,
  ): Promise<IntegrationTestApp> => {
    const t = await createIntegrationApp(db.url, { orm: 'pg', integration });
    apps.push(t);
    return t;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    await pool.query('create table effect (event_id text primary key, consumer text not null)');
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await pool.query(
      'truncate outbox_event, inbox_event, effect, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it.each([1, 3])(
    'works on at most processor.concurrency (%i) batches at once',
    async (concurrency) => {
      let active = 0;
      let peak = 0;
      const release = gate();
      const t = await boot({
        notify: { enabled: false },
        processor: { enabled: false, batchSize: 1, concurrency, idlePollIntervalMs: 20 },
      });
      addConsumer(t, 'c', async () => {
        active++;
        peak = Math.max(peak, active);
        await release.promise;
        active--;
      });
      await publishAll(
        t,
        Array.from({ length: 6 }, (_, i) => ev(`k${i}`)),
      );
      const processor = t.app.get(OutboxProcessor);
      await processor.start();
      await waitFor(() => active === concurrency, 5_000, `${concurrency} batches in flight`);
      // Give the loop every chance to exceed the limit before opening the gate.
      await new Promise((resolve) => setTimeout(resolve, 150));
      expect(peak).toBe(concurrency);
      release.open();
      await waitFor(async () => (await processedBy(t, 'c')) === 6, 5_000, 'all processed');
      expect(peak).toBe(concurrency);
    },
  );

  it('keeps per-key order with several batches in flight', async () => {
    const seen = new Map<string, number[]>();
    const inFlight = new Set<string>();
    let overlap = false;
    const t = await boot({
      processor: { batchSize: 7, concurrency: 4, idlePollIntervalMs: 20 },
    });
    addConsumer(t, 'c', async (e: IntegrationEvent) => {
      if (inFlight.has(e.orderingKey)) overlap = true;
      inFlight.add(e.orderingKey);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      inFlight.delete(e.orderingKey);
      const list = seen.get(e.orderingKey) ?? [];
      list.push((e.payload as { n: number }).n);
      seen.set(e.orderingKey, list);
    });
    const events: PublishEventInput[] = [];
    for (let n = 0; n < 15; n++) for (let k = 0; k < 8; k++) events.push(ev(`key${k}`, n));
    await publishAll(t, events);
    const processor = t.app.get(OutboxProcessor);
    await processor.start();
    await waitFor(async () => (await processedBy(t, 'c')) === 120, 15_000, 'all processed');
    expect(overlap).toBe(false);
    for (let k = 0; k < 8; k++) {
      expect(seen.get(`Thing:key${k}`)).toEqual(Array.from({ length: 15 }, (_, n) => n));
    }
  });

  it('a batch claimed while stopping goes straight back to pending, attempt not counted', async () => {
    let handled = 0;
    const t = await boot({
      notify: { enabled: false },
      processor: { enabled: false, idlePollIntervalMs: 10 },
    });
    addConsumer(t, 'c', () => void handled++);
    const [id] = await publishAll(t, [ev('late')]);
    // Hold the claim back: its UPDATE waits for this lock (so may the sequencer's INSERT before
    // it; either way the claim runs only once stop() has begun).
    const blocker: PoolClient = await pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table integration_delivery in share mode');
      const processor = t.app.get(OutboxProcessor);
      await processor.start();
      await waitFor(
        async () =>
          (
            await pool.query<{ n: number }>(
              `select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation
                where c.relname = 'integration_delivery' and not l.granted`,
            )
          ).rows[0]!.n > 0,
        5_000,
        'the claim to wait for the lock',
      );
      const stopping = processor.stop();
      await blocker.query('commit');
      await stopping;
    } finally {
      blocker.release();
    }
    const { rows } = await pool.query(
      'select consumer_name, status, attempt_count, locked_by, claim_count from integration_delivery where event_id = $1',
      [id],
    );
    // Claimed once (claim_count), released untouched: pending, its attempt not counted.
    expect(rows).toEqual([
      { consumer_name: 'c', status: 'pending', attempt_count: 0, locked_by: null, claim_count: 1 },
    ]);
    expect(handled).toBe(0);
  });

  it('a concurrent delivery that commits first fences the batch out at its mark; the effect stays single', async () => {
    const calls: string[] = [];
    const project =
      (worker: string) =>
      async (e: IntegrationEvent, ctx: { tx: PoolClient }): Promise<void> => {
        calls.push(`${worker}:${e.aggregateId}`);
        await ctx.tx.query('insert into effect (event_id, consumer) values ($1, $2)', [
          e.id,
          'proj',
        ]);
      };
    const a = await boot({ processor: { enabled: false, workerId: 'a' } });
    const b = await boot({ processor: { enabled: false, workerId: 'b' } });
    addConsumer<PoolClient>(a, 'proj', project('a'));
    addConsumer<PoolClient>(b, 'proj', project('b'));
    const ids = await publishAll(a, [ev('a'), ev('b')]);
    // a claims both deliveries, then stalls before its batch transaction: no heartbeat, no mark.
    await a.app.get(ConsumerDirectory).announceHosted();
    const pipeline = a.app.get(DeliveryPipeline);
    await pipeline.sequence();
    const stalled = await pipeline.claim(['proj']);
    clearInterval(stalled.heartbeat);
    expect(stalled.deliveries).toHaveLength(2);
    // Its leases expire (on the database clock); b takes both over and commits them first.
    await pool.query(
      "update integration_delivery set locked_until = now() - interval '1 second' where locked_by = 'a'",
    );
    expect(await b.app.get(OutboxProcessor).processBatch()).toMatchObject({
      claimed: 2,
      processed: 2,
    });
    // a's batch goes on: its optimistic pass may start a handler (its write then collides with
    // b's committed effect, or its mark at the end comes back short) and rolls back; the
    // isolated pass marks before running, finds the leases gone and runs nothing.
    expect(await pipeline.complete(stalled, () => false)).toMatchObject({
      claimed: 2,
      processed: 0,
      leaseLost: 2,
    });
    expect(calls.filter((c) => c.startsWith('b:')).sort()).toEqual(['b:a', 'b:b']);
    expect(calls.filter((c) => c.startsWith('a:')).length).toBeLessThanOrEqual(2);
    const effects = await pool.query<{ event_id: string }>('select event_id from effect');
    expect(effects.rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    const deliveries = await pool.query(
      'select status, attempt_count, locked_by from integration_delivery order by event_id',
    );
    expect(deliveries.rows).toEqual([
      { status: 'processed', attempt_count: 2, locked_by: null },
      { status: 'processed', attempt_count: 2, locked_by: null },
    ]);
  });

  it('keeps one lease extension in flight per batch while the database is slow to answer', async () => {
    // A heartbeat every 50 ms (leaseMs / 3, at its floor).
    const t = await boot({ processor: { enabled: false, leaseMs: 150 } });
    addConsumer(t, 'c', async () => undefined);
    await publishAll(t, [ev('a'), ev('b')]);
    await t.app.get(ConsumerDirectory).announceHosted();
    const pipeline = t.app.get(DeliveryPipeline);
    await pipeline.sequence();
    const batch = await pipeline.claim(['c']);
    expect(batch.deliveries).toHaveLength(2);
    // Another session holds the table: every extension waits for it.
    const holder = await pool.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table integration_delivery in access exclusive mode');
      // Read from another session: inside the holder's transaction the view is a snapshot.
      const extending = async (): Promise<number> =>
        Number(
          (
            await pool.query(
              `select count(*)::int as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock'
                  and query like '%jsonb_to_recordset($2::jsonb) AS k(event_id uuid, consumer text)%'`,
            )
          ).rows[0].n,
        );
      await waitFor(async () => (await extending()) === 1, 5_000, 'the first extension waiting');
      // Twenty heartbeat ticks later the first extension is still the only one.
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect(await extending()).toBe(1);
      await holder.query('rollback');
      expect(await pipeline.complete(batch, () => false)).toMatchObject({ processed: 2 });
    } finally {
      clearInterval(batch.heartbeat);
      await holder.query('rollback').catch(() => undefined);
      holder.release();
    }
  }, 30_000);

  it('a redelivered event whose delivery is already processed is skipped without running the handler', async () => {
    let calls = 0;
    const t = await boot({ processor: { enabled: false } });
    addConsumer(t, 'proj', () => void calls++);
    const [id] = await publishAll(t, [ev('a')]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, processed: 1 });
    expect(calls).toBe(1);
    // Delivered again by hand, and by the next cycles: the processed delivery is not taken.
    expect(await processor.deliverNow(id!, 'proj')).toEqual({ kind: 'not-taken' });
    expect(await processor.processBatch()).toMatchObject({ claimed: 0 });
    expect(calls).toBe(1);
    const { rows } = await pool.query(
      'select status, attempt_count from integration_delivery where event_id = $1',
      [id],
    );
    expect(rows).toEqual([{ status: 'processed', attempt_count: 1 }]);
  });

  it.each([
    [true, 'prepares'],
    [false, 'does not prepare'],
  ])('pgAdapter with preparedStatements: %s %s its statements', async (preparedStatements) => {
    // One connection, so pg_prepared_statements (per session) sees everything the adapter did.
    const own = new Pool({ connectionString: db.url, max: 1 });
    try {
      const seen: string[] = [];
      const t = await createIntegrationApp(db.url, {
        orm: 'pg',
        integration: {
          database: pgAdapter(own, { preparedStatements }),
          notify: { enabled: false },
        },
      });
      try {
        addConsumer(t, 'seen', (e: IntegrationEvent) => void seen.push(e.id));
        const ids = await t.app.get(DomainEventPublisher).publishStandalone(ev('x'));
        expect(await t.app.get(OutboxProcessor).drain()).toMatchObject({ processed: 1 });
        expect(seen).toEqual([ids]);
      } finally {
        await t.close();
      }
      const prepared = await own.query<{ n: number }>(
        `select count(*)::int as n from pg_prepared_statements where name like 'ni\\_%'`,
      );
      expect(prepared.rows[0]!.n > 0).toBe(preparedStatements);
    } finally {
      await own.end();
    }
  });
});
