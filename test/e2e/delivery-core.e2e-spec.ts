import { Injectable, type Provider } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import {
  ConsumerDirectory,
  IntegrationAdminService,
  OutboxProcessor,
  DomainEventPublisher,
  IntegrationConsumer,
  IntegrationLifecycle,
  OnIntegrationEvent,
  type HandlerContext,
  type IntegrationEvent,
  type IntegrationLifecycleEvent,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { thingEvent } from '../support/effect-fixture';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/** Shared switches of the test consumers. */
class Faults {
  /** Consumer b fails on events whose payload n is in this set. */
  readonly failB = new Set<number>();
}

const EFFECT = 'insert into dc_effect (consumer, event_id, n) values ($1, $2, $3)';

async function record(ctx: HandlerContext, event: IntegrationEvent<{ n: number }>): Promise<void> {
  await (ctx.tx as PoolClient).query(EFFECT, [ctx.consumer, event.id, event.payload.n]);
}

@Injectable()
@IntegrationConsumer('a')
class ConsumerA {
  @OnIntegrationEvent('thing.*')
  async on(event: IntegrationEvent<{ n: number }>, ctx: HandlerContext): Promise<void> {
    await record(ctx, event);
  }
}

@Injectable()
@IntegrationConsumer('b', {
  retry: { maxAttempts: 2, baseDelayMs: 3_600_000, maxDelayMs: 3_600_000 },
})
class ConsumerB {
  constructor(private readonly faults: Faults) {}

  @OnIntegrationEvent('thing.*')
  async on(event: IntegrationEvent<{ n: number }>, ctx: HandlerContext): Promise<void> {
    if (this.faults.failB.has(event.payload.n)) throw new Error(`b refuses ${event.payload.n}`);
    await record(ctx, event);
  }
}

@Injectable()
@IntegrationConsumer('history', { startFrom: 'retained' })
class HistoryConsumer {
  @OnIntegrationEvent('thing.*')
  async on(event: IntegrationEvent<{ n: number }>, ctx: HandlerContext): Promise<void> {
    await record(ctx, event);
  }
}

@Injectable()
@IntegrationConsumer('latecomer')
class LateConsumer {
  @OnIntegrationEvent('thing.*')
  async on(event: IntegrationEvent<{ n: number }>, ctx: HandlerContext): Promise<void> {
    await record(ctx, event);
  }
}

const things = (from: number, to: number, key = 'K') =>
  Array.from({ length: to - from + 1 }, (_, i) =>
    thingEvent('thing.happened', key, { n: from + i }),
  );

describe('per-consumer delivery (issue 13 acceptance)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];
  const faults = new Faults();

  /** An app hosting `consumers`, its processor started unless `start` is false. */
  async function boot(
    consumers: Array<new (...args: never[]) => unknown>,
    options: { workerId: string; start?: boolean },
  ): Promise<IntegrationTestApp> {
    const providers: Provider[] = [{ provide: Faults, useValue: faults }, ...consumers];
    const app = await createIntegrationApp(db.url, {
      integration: {
        processor: {
          enabled: options.start ?? false,
          workerId: options.workerId,
          idlePollIntervalMs: 50,
          batchSize: 20,
        },
      },
      metadata: { providers },
    });
    apps.push(app);
    return app;
  }

  const effects = async (consumer: string): Promise<number[]> =>
    (
      await pool.query<{ n: number }>('select n from dc_effect where consumer = $1 order by seq', [
        consumer,
      ])
    ).rows.map((r) => r.n);

  const deliveryOf = async (consumer: string, n: number) =>
    (
      await pool.query<{ status: string; attempt_count: number; last_error: string | null }>(
        `select d.status, d.attempt_count, d.last_error from integration_delivery d
           join outbox_event o on o.id = d.event_id
          where d.consumer_name = $1 and (o.payload->>'n')::int = $2`,
        [consumer, n],
      )
    ).rows[0];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 6 });
    await pool.query(
      'create table dc_effect (seq serial primary key, consumer text not null, event_id text not null, n int not null, unique (consumer, event_id))',
    );
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    faults.failB.clear();
    await pool.query(
      'truncate dc_effect, outbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('1. a failing consumer does not hold back another one on the same key; it retries, dead-letters and is replayed alone', async () => {
    const app = await boot([ConsumerA, ConsumerB], { workerId: 'w1' });
    const processor = app.app.get(OutboxProcessor);
    faults.failB.add(1);
    await publishAll(app, things(1, 50));

    // B's first attempt fails and waits an hour; A goes through all 50 in order meanwhile.
    await processor.drain();
    expect(await effects('a')).toEqual(things(1, 50).map((_, i) => i + 1));
    expect(await effects('b')).toEqual([]);
    expect(await deliveryOf('b', 1)).toMatchObject({ status: 'pending', attempt_count: 1 });
    expect((await deliveryOf('b', 1))!.last_error).toContain('b refuses 1');
    expect(await deliveryOf('b', 2)).toMatchObject({ status: 'pending', attempt_count: 0 });

    // Its retry is due: it fails its last attempt and becomes b's dead letter, not a's.
    await pool.query(
      "update integration_delivery set available_at = now() where consumer_name = 'b' and status = 'pending' and attempt_count > 0",
    );
    await processor.drain();
    expect(await deliveryOf('b', 1)).toMatchObject({ status: 'dead_letter', attempt_count: 2 });
    expect(await deliveryOf('a', 1)).toMatchObject({ status: 'processed' });
    // After the dead letter, b's key goes on, in order.
    expect(await effects('b')).toEqual(things(2, 50).map((_, i) => i + 2));

    // Replaying b's dead letter delivers to b only.
    faults.failB.clear();
    const [{ id }] = (
      await pool.query<{ id: string }>(
        "select id::text from outbox_event where (payload->>'n')::int = 1",
      )
    ).rows as [{ id: string }];
    expect(await app.app.get(IntegrationAdminService).replay(id, { consumer: 'b' })).toBe(1);
    await processor.drain();
    expect((await effects('b')).slice(-1)).toEqual([1]);
    expect(await effects('a')).toHaveLength(50);
    expect(await deliveryOf('b', 1)).toMatchObject({ status: 'processed' });
  });

  it('2. consumers in different instances each get every event exactly once, across restarts; retiring is explicit', async () => {
    const seenByA: IntegrationLifecycleEvent[] = [];
    let appA = await boot([ConsumerA], { workerId: 'host-a', start: true });
    const unsubscribe = appA.app.get(IntegrationLifecycle).subscribe({
      onEvent: (e) => seenByA.push(e),
    });
    const appB = await boot([ConsumerB], { workerId: 'host-b', start: true });

    await publishAll(appB, things(1, 30, 'K1'));
    await waitFor(
      async () => (await effects('a')).length === 30 && (await effects('b')).length === 30,
    );

    // Instance A restarts while events keep coming: B goes on, A catches up.
    unsubscribe();
    await appA.close();
    await publishAll(appB, things(31, 50, 'K1'));
    await waitFor(async () => (await effects('b')).length === 50);
    expect(await effects('a')).toHaveLength(30);
    appA = await boot([ConsumerA], { workerId: 'host-a2', start: true });
    await waitFor(async () => (await effects('a')).length === 50);

    const range = Array.from({ length: 50 }, (_, i) => i + 1);
    expect(await effects('a')).toEqual(range);
    expect(await effects('b')).toEqual(range);
    // The instance without b never claimed or settled anything of b's.
    const touchedB = seenByA.filter(
      (e) =>
        (e.type === 'deliveries.claimed' && e.deliveries.some((d) => d.consumer === 'b')) ||
        ((e.type === 'delivery.settled' || e.type === 'delivery.handled') &&
          e.delivery.consumer === 'b'),
    );
    expect(seenByA.some((e) => e.type === 'deliveries.claimed')).toBe(true);
    expect(touchedB).toEqual([]);
    const lockedByA = await pool.query(
      "select 1 from integration_delivery where consumer_name = 'b' and locked_by like 'host-a%'",
    );
    expect(lockedByA.rowCount).toBe(0);

    // With b's host gone, b's deliveries wait; nobody else marks them.
    await appB.close();
    await publishAll(appA, things(51, 55, 'K1'));
    await waitFor(async () => (await effects('a')).length === 55);
    const waiting = await pool.query(
      "select d.status from integration_delivery d join outbox_event o on o.id = d.event_id where d.consumer_name = 'b' and (o.payload->>'n')::int > 50",
    );
    expect(waiting.rows.map((r) => r.status)).toEqual(Array(5).fill('pending'));

    // Retiring b is explicit: its waiting deliveries are skipped, new events get none for b.
    const directory = appA.app.get(ConsumerDirectory);
    expect(await directory.retire('b', { reason: 'moved to the billing service' })).toMatchObject({
      retired: true,
      skipped: 5,
    });
    await publishAll(appA, things(56, 56, 'K1'));
    await waitFor(async () => (await effects('a')).length === 56);
    const forB = await pool.query(
      "select count(*)::int as n from integration_delivery d join outbox_event o on o.id = d.event_id where consumer_name = 'b' and (o.payload->>'n')::int = 56",
    );
    expect(forB.rows[0].n).toBe(0);
  });

  it('3. delivery follows commit order: a transaction that began first and committed last is delivered last; a rollback blocks nothing', async () => {
    const app = await boot([ConsumerA], { workerId: 'w3' });
    const processor = app.app.get(OutboxProcessor);
    const publisher = app.app.get(DomainEventPublisher);
    const t1 = await pool.connect();
    const t2 = await pool.connect();
    const t3 = await pool.connect();
    try {
      await t1.query('BEGIN');
      await publisher.publish(t1, thingEvent('thing.happened', 'K', { n: 1 }));
      await t2.query('BEGIN');
      await publisher.publish(t2, thingEvent('thing.happened', 'K', { n: 2 }));
      await t3.query('BEGIN');
      await publisher.publish(t3, thingEvent('thing.happened', 'K', { n: 3 }));
      await t2.query('COMMIT');
      // T1 is still open: what committed is delivered, nothing waits for T1.
      await processor.drain();
      expect(await effects('a')).toEqual([2]);
      await t1.query('COMMIT');
      await t3.query('ROLLBACK');
      await publishAll(app, [thingEvent('thing.happened', 'K', { n: 4 })]);
      await processor.drain();
    } finally {
      t1.release();
      t2.release();
      t3.release();
    }
    expect(await effects('a')).toEqual([2, 1, 4]);
    const positions = await pool.query<{ n: number }>(
      "select (o.payload->>'n')::int as n from integration_delivery d join outbox_event o on o.id = d.event_id order by d.position",
    );
    expect(positions.rows.map((r) => r.n)).toEqual([2, 1, 4]);
  });

  it('reports every stage to lifecycle observers given in the options, and stops cleanly', async () => {
    const events: IntegrationLifecycleEvent[] = [];
    const providers: Provider[] = [{ provide: Faults, useValue: faults }, ConsumerA];
    const app = await createIntegrationApp(db.url, {
      integration: {
        observers: [{ onEvent: (e) => events.push(e) }],
        processor: { enabled: true, workerId: 'w4', idlePollIntervalMs: 50 },
      },
      metadata: { providers },
    });
    apps.push(app);
    await publishAll(app, things(1, 3));
    await waitFor(async () => (await effects('a')).length === 3);
    await app.close();
    const types = new Set(events.map((e) => e.type));
    for (const type of [
      'processor.started',
      'events.sequenced',
      'deliveries.claimed',
      'delivery.handled',
      'delivery.settled',
      'processor.stopped',
    ] as const) {
      expect(types).toContain(type);
    }
    expect(events.at(-1)).toEqual({ type: 'processor.stopped', workerId: 'w4' });
    const handled = events.filter((e) => e.type === 'delivery.handled');
    expect(handled.map((e) => e.type === 'delivery.handled' && e.fact.kind)).toEqual([
      'handled',
      'handled',
      'handled',
    ]);
  });

  it("a new consumer starts from now by default, or with every retained event first (startFrom: 'retained')", async () => {
    const first = await boot([ConsumerA], { workerId: 'w5' });
    await publishAll(first, things(1, 3));
    await first.app.get(OutboxProcessor).drain();
    expect(await effects('a')).toEqual([1, 2, 3]);

    const later = await boot([ConsumerA, HistoryConsumer, LateConsumer], { workerId: 'w6' });
    const processor = later.app.get(OutboxProcessor);
    await processor.processBatch(); // announces history (backfilled) and latecomer
    await publishAll(later, things(4, 5));
    await processor.drain();
    expect(await effects('history')).toEqual([1, 2, 3, 4, 5]);
    expect(await effects('latecomer')).toEqual([4, 5]);
    expect(await effects('a')).toEqual([1, 2, 3, 4, 5]);

    // Known from now on: a restart does not backfill it again.
    await later.close();
    const again = await boot([HistoryConsumer], { workerId: 'w7' });
    await again.app.get(OutboxProcessor).drain();
    expect(await effects('history')).toEqual([1, 2, 3, 4, 5]);
  });
});
