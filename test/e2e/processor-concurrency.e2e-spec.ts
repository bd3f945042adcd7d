import { Pool, type PoolClient } from 'pg';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  OutboxProcessor,
  perEventDispatcher,
  pgAdapter,
  type IntegrationModuleOptions,
  type PublishEventInput,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate, waitFor } from '../support/wait-for';

const ev = (key: string, n = 0): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload: { n },
});

/** Paths added for throughput: concurrent batches, the savepoint-free first pass, prepared statements. */
describe('processor throughput paths', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

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
    await pool.query('truncate outbox_event, inbox_event, effect');
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
      const dispatcher = perEventDispatcher(async () => {
        active++;
        peak = Math.max(peak, active);
        await release.promise;
        active--;
      });
      const t = await boot({
        dispatcher,
        notify: { enabled: false },
        processor: { enabled: false, batchSize: 1, concurrency, idlePollIntervalMs: 20 },
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
      await waitFor(
        async () => (await processor.getStats()).processed === 6,
        5_000,
        'all processed',
      );
      expect(peak).toBe(concurrency);
    },
  );

  it('keeps per-key order with several batches in flight', async () => {
    const seen = new Map<string, number[]>();
    const inFlight = new Set<string>();
    let overlap = false;
    const dispatcher = perEventDispatcher(async (e) => {
      if (inFlight.has(e.orderingKey)) overlap = true;
      inFlight.add(e.orderingKey);
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
      inFlight.delete(e.orderingKey);
      const list = seen.get(e.orderingKey) ?? [];
      list.push((e.payload as { n: number }).n);
      seen.set(e.orderingKey, list);
    });
    const t = await boot({
      dispatcher,
      processor: { batchSize: 7, concurrency: 4, idlePollIntervalMs: 20 },
    });
    const events: PublishEventInput[] = [];
    for (let n = 0; n < 15; n++) for (let k = 0; k < 8; k++) events.push(ev(`key${k}`, n));
    await publishAll(t, events);
    const processor = t.app.get(OutboxProcessor);
    await processor.start();
    await waitFor(
      async () => (await processor.getStats()).processed === 120,
      15_000,
      'all processed',
    );
    expect(overlap).toBe(false);
    for (let k = 0; k < 8; k++) {
      expect(seen.get(`Thing:key${k}`)).toEqual(Array.from({ length: 15 }, (_, n) => n));
    }
  });

  it('a batch claimed while stopping goes straight back to pending, attempt not counted', async () => {
    let handled = 0;
    const dispatcher = perEventDispatcher(async () => void handled++);
    const t = await boot({
      dispatcher,
      notify: { enabled: false },
      processor: { enabled: false, idlePollIntervalMs: 10 },
    });
    const [id] = await publishAll(t, [ev('late')]);
    // Hold the claim back: its UPDATE waits for this lock.
    const blocker: PoolClient = await pool.connect();
    try {
      await blocker.query('begin');
      await blocker.query('lock table outbox_event in share mode');
      const processor = t.app.get(OutboxProcessor);
      await processor.start();
      await waitFor(
        async () =>
          (
            await pool.query<{ n: number }>(
              `select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation
                where c.relname = 'outbox_event' and not l.granted`,
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
      'select status, attempt_count, locked_by from outbox_event where id = $1',
      [id],
    );
    expect(rows[0]).toEqual({ status: 'pending', attempt_count: 0, locked_by: null });
    expect(handled).toBe(0);
  });

  it('a concurrent delivery that commits first makes the batch pass roll back; the effect stays single', async () => {
    let calls = 0;
    const t = await boot({ processor: { enabled: false } });
    t.app.get(EventSubscriberRegistry).register<unknown, PoolClient>({
      pattern: 'test.happened',
      consumer: 'proj',
      name: 'proj',
      handle: async (e, ctx) => {
        calls++;
        await ctx.tx.query('insert into effect (event_id, consumer) values ($1, $2)', [
          e.id,
          'proj',
        ]);
        // Another delivery of the same event commits its inbox mark meanwhile.
        await pool.query(
          `insert into inbox_event (event_id, consumer_name, status, attempt_count, processed_at)
           values ($1, 'proj', 'processed', 1, now())`,
          [e.id],
        );
      },
    });
    const [id, other] = await publishAll(t, [ev('a'), ev('b')]);
    const processor = t.app.get(OutboxProcessor);
    const result = await processor.processBatch();
    expect(result).toMatchObject({ claimed: 2, processed: 2 });
    // First pass: both ran, then the inbox statement saw the other delivery's marks and rolled
    // everything back; the isolated pass found both marked and ran nothing.
    expect(calls).toBe(2);
    expect((await pool.query('select count(*)::int as n from effect')).rows[0].n).toBe(0);
    const inbox = await pool.query('select event_id from inbox_event order by event_id');
    expect(inbox.rows.map((r: { event_id: string }) => r.event_id).sort()).toEqual(
      [id, other].sort(),
    );
  });

  it('a redelivered event whose inbox mark exists is skipped without running the handler', async () => {
    let calls = 0;
    const t = await boot({ processor: { enabled: false } });
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'test.happened',
      consumer: 'proj',
      name: 'proj',
      handle: () => void calls++,
    });
    const [id] = await publishAll(t, [ev('a')]);
    await pool.query(
      `insert into inbox_event (event_id, consumer_name, status, attempt_count, processed_at)
       values ($1, 'proj', 'processed', 1, now())`,
      [id],
    );
    expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({ processed: 1 });
    expect(calls).toBe(0);
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
          dispatcher: perEventDispatcher(async (e) => void seen.push(e.id)),
        },
      });
      try {
        const ids = await t.app.get(DomainEventPublisher).publishStandalone(ev('x'));
        await t.app.get(OutboxProcessor).drain();
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
