import { Pool, type PoolClient } from 'pg';
import {
  ConsumerDirectory,
  EventSubscriberRegistry,
  JitterMode,
  OutboxProcessor,
  pgAdapter,
  type HandlerContext,
  type IntegrationEvent,
  type PublishEventInput,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

interface Payload {
  readonly key: string;
  readonly n: number;
}

const ev = (key: string, n: number): PublishEventInput => ({
  name: 'lane.happened',
  aggregateType: 'Lane',
  aggregateId: key,
  payload: { key, n },
});

/** `keys` keys × `perKey` events, published interleaved (event n of every key, then n + 1 …). */
const interleaved = (keys: number, perKey: number): PublishEventInput[] =>
  Array.from({ length: perKey }, (_, n) =>
    Array.from({ length: keys }, (_, k) => ev(`k${k}`, n)),
  ).flat();

const EFFECT = 'insert into lane_effect (event_id, key, n) values ($1, $2, $3)';
const noRetryDelay = { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None };

describe('consumer concurrency (events of different keys side by side in a batch)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let pipelined: Pool;
  const apps: IntegrationTestApp[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    pipelined = new Pool({ connectionString: db.url, max: 6, pipeline: true });
    pipelined.on('error', () => undefined);
    await pool.query(
      `create table lane_effect (seq serial primary key, event_id text not null unique, key text not null,
         n int not null check (n <> 13))`,
    );
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await pool.query(
      'truncate lane_effect, outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pipelined.end();
    await pool.end();
    await db.drop();
  });

  /** An app whose consumer `lanes` runs `handle`; on the pipelined pool unless `plain`. */
  const boot = async (
    handle: (e: IntegrationEvent<Payload>, ctx: HandlerContext<PoolClient>) => Promise<void>,
    options: {
      concurrency?: number;
      plain?: boolean;
      batchSize?: number;
      transactional?: false;
    } = {},
  ): Promise<{ t: IntegrationTestApp; processor: OutboxProcessor }> => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: {
        ...(options.plain ? {} : { database: pgAdapter(pipelined) }),
        processor: { batchSize: options.batchSize ?? 500, retry: noRetryDelay },
      },
    });
    apps.push(t);
    t.app.get(EventSubscriberRegistry).register<Payload, PoolClient>({
      pattern: 'lane.happened',
      consumer: 'lanes',
      name: 'Lanes.handle',
      concurrency: options.concurrency ?? 8,
      ...(options.transactional === false ? { transactional: false } : {}),
      handle,
    });
    return { t, processor: t.app.get(OutboxProcessor) };
  };

  const effects = async (): Promise<Array<{ key: string; n: number }>> =>
    (await pool.query<{ key: string; n: number }>('select key, n from lane_effect order by seq'))
      .rows;
  /** How many deliveries of the consumer are in each status. */
  const deliveries = async (): Promise<Array<{ status: string; n: number }>> =>
    (
      await pool.query<{ status: string; n: number }>(
        'select status, count(*)::int as n from integration_delivery group by status order by status',
      )
    ).rows;
  /** Deliveries with an error, with their event's key and payload. */
  const failedDeliveries = async () =>
    (
      await pool.query<{
        status: string;
        attempt_count: number;
        last_error: string;
        aggregate_id: string;
        payload: Payload;
      }>(
        `select d.status, d.attempt_count, d.last_error, o.aggregate_id, o.payload
           from integration_delivery d join outbox_event o on o.id = d.event_id
          where d.last_error is not null order by o.seq`,
      )
    ).rows;

  it('runs up to `concurrency` keys at once, each key in publish order, every effect once', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { t, processor } = await boot(
      async (e, ctx) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          // Two statements per event: the lanes really interleave on the connection.
          await ctx.tx.query('select pg_sleep(0.001)');
          await ctx.tx.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
        } finally {
          inFlight--;
        }
      },
      { concurrency: 8 },
    );
    await publishAll(t, interleaved(12, 12));
    expect(await processor.processBatch()).toMatchObject({ claimed: 144, processed: 144 });
    expect(maxInFlight).toBe(8);
    const rows = await effects();
    expect(rows).toHaveLength(144);
    for (let k = 0; k < 12; k++) {
      expect(rows.filter((r) => r.key === `k${k}`).map((r) => r.n)).toEqual(
        Array.from({ length: 12 }, (_, n) => n),
      );
    }
    expect(await deliveries()).toEqual([{ status: 'processed', n: 144 }]);
  });

  it('a failing statement aborts every lane; the isolated pass blames its event alone and the rest commit once', async () => {
    const calls = new Map<string, number>();
    const { t, processor } = await boot(async (e, ctx) => {
      const label = `${e.payload.key}/${e.payload.n}`;
      calls.set(label, (calls.get(label) ?? 0) + 1);
      await ctx.tx.query('select pg_sleep(0.001)');
      // Only k3's event 13 violates the table's check (n <> 13).
      const n = e.payload.key === 'k3' ? e.payload.n : e.payload.n + 100;
      await ctx.tx.query(EFFECT, [e.id, e.payload.key, n]);
    });
    await publishAll(t, interleaved(6, 20));
    // The failed statement aborts the transaction under every lane; the batch then runs again one
    // event at a time with a savepoint each, which blames k3's event 13 alone.
    expect(await processor.processBatch()).toMatchObject({
      claimed: 120,
      processed: 113,
      retried: 1,
      released: 6,
    });
    const failed = await failedDeliveries();
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ status: 'pending', attempt_count: 1 });
    expect(failed[0]!.payload.n).toBe(13);
    expect(failed[0]!.last_error).toMatch(/check constraint/);
    // Once per pass; the events behind it on its key never ran (its lane stopped, then released).
    const key = failed[0]!.payload.key;
    expect(key).toBe('k3');
    expect(calls.get('k3/13')).toBe(2);
    expect(calls.get('k3/14')).toBeUndefined();
    expect(Math.max(...calls.values())).toBe(2);
    expect((await effects()).filter((r) => r.key === key).map((r) => r.n)).toEqual(
      Array.from({ length: 13 }, (_, n) => n),
    );
    expect(await pool.query('select count(*)::int as n from lane_effect')).toMatchObject({
      rows: [{ n: 113 }],
    });
  });

  it('a JavaScript error in one lane stops new events, waits for the running ones, then isolates', async () => {
    const calls = new Map<string, number>();
    let running = 0;
    const { t, processor } = await boot(async (e, ctx) => {
      const label = `${e.payload.key}/${e.payload.n}`;
      calls.set(label, (calls.get(label) ?? 0) + 1);
      running++;
      try {
        if (label === 'k2/3') throw new Error('k2 refuses event 3');
        await ctx.tx.query('select pg_sleep(0.002)');
        await ctx.tx.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
      } finally {
        running--;
      }
    });
    await publishAll(t, interleaved(4, 10));
    const result = await processor.processBatch();
    const runningAtReturn = running;
    expect(result).toMatchObject({ claimed: 40, processed: 33, retried: 1, released: 6 });
    expect(runningAtReturn).toBe(0);
    expect(calls.get('k2/3')).toBe(2);
    for (let n = 4; n < 10; n++) expect(calls.get(`k2/${n}`)).toBeUndefined();
    const rows = await effects();
    expect(rows.filter((r) => r.key === 'k2').map((r) => r.n)).toEqual([0, 1, 2]);
    expect(rows).toHaveLength(33);
    expect((await failedDeliveries()).map((d) => [d.aggregate_id, d.last_error])).toEqual([
      ['k2', 'Error: k2 refuses event 3'],
    ]);
  });

  it('a handler that swallows its own SQL error is found by the isolated pass, not the lane that saw it', async () => {
    const { t, processor } = await boot(async (e, ctx) => {
      if (e.payload.key === 'k0') {
        // Swallows the failure, but the transaction stays aborted: the others' statements fail.
        await ctx.tx.query(EFFECT, [e.id, e.payload.key, 13]).catch(() => undefined);
        return;
      }
      await ctx.tx.query('select pg_sleep(0.005)');
      await ctx.tx.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
    });
    await publishAll(t, [ev('k0', 0), ev('k1', 0), ev('k2', 0)]);
    expect(await processor.processBatch()).toMatchObject({
      claimed: 3,
      processed: 2,
      retried: 1,
    });
    expect((await effects()).map((r) => r.key).sort()).toEqual(['k1', 'k2']);
    expect((await failedDeliveries()).map((d) => [d.aggregate_id, d.last_error])).toEqual([
      ['k0', expect.stringMatching(/aborted/)],
    ]);
  });

  it('a handler timeout abandons the whole batch transaction: nothing of it commits', async () => {
    let hang = true;
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: {
        database: pgAdapter(pipelined),
        processor: { handlerTimeoutMs: 150, retry: noRetryDelay },
      },
    });
    apps.push(t);
    t.app.get(EventSubscriberRegistry).register<Payload, PoolClient>({
      pattern: 'lane.happened',
      consumer: 'lanes',
      name: 'Lanes.hang',
      concurrency: 4,
      handle: async (e, ctx) => {
        await ctx.tx.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
        if (e.payload.key === 'k1' && e.payload.n === 1 && hang) await new Promise(() => undefined);
      },
    });
    const processor = t.app.get(OutboxProcessor);
    await publishAll(t, interleaved(4, 3));
    expect(await processor.processBatch()).toMatchObject({
      claimed: 12,
      processed: 0,
      retried: 1,
      released: 11,
    });
    expect(await effects()).toEqual([]);
    hang = false;
    await processor.drain({ timeoutMs: 30_000 });
    expect(await effects()).toHaveLength(12);
    expect(await deliveries()).toEqual([{ status: 'processed', n: 12 }]);
  });

  it('without a pipelining adapter the consumer runs one event at a time', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const { t, processor } = await boot(
      async (e, ctx) => {
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          await ctx.tx.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
        } finally {
          inFlight--;
        }
      },
      { plain: true, concurrency: 8 },
    );
    await publishAll(t, interleaved(5, 4));
    expect(await processor.processBatch()).toMatchObject({ claimed: 20, processed: 20 });
    expect(await processor.processBatch()).toMatchObject({ claimed: 0 });
    expect(maxInFlight).toBe(1);
    expect(await effects()).toHaveLength(20);
  });

  it('without a transaction, runs up to `concurrency` keys at once on any adapter; a failure holds back its own key only', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const started: string[] = [];
    const { t, processor } = await boot(
      async (e, ctx) => {
        expect(ctx.tx).toBeUndefined();
        started.push(`${e.payload.key}/${e.payload.n}`);
        maxInFlight = Math.max(maxInFlight, ++inFlight);
        try {
          // Waits on something outside the database, as a relay waits for a broker's ack.
          await new Promise((resolve) => setTimeout(resolve, 5));
          if (e.payload.key === 'k1' && e.payload.n === 1) throw new Error('k1 refuses event 1');
          await pool.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
        } finally {
          inFlight--;
        }
      },
      { plain: true, concurrency: 4, transactional: false },
    );
    await publishAll(t, interleaved(6, 4));
    expect(await processor.processBatch()).toMatchObject({
      claimed: 24,
      processed: 21,
      retried: 1,
      released: 2,
    });
    expect(maxInFlight).toBe(4);
    // k1 stopped at its failed event; every other key ran to its end, each in order.
    expect(started.filter((s) => s.startsWith('k1/'))).toEqual(['k1/0', 'k1/1']);
    const rows = await effects();
    for (let k = 0; k < 6; k++) {
      expect(rows.filter((r) => r.key === `k${k}`).map((r) => r.n)).toEqual(
        k === 1 ? [0] : [0, 1, 2, 3],
      );
    }
    expect((await failedDeliveries()).map((d) => [d.aggregate_id, d.payload.n])).toEqual([
      ['k1', 1],
    ]);
  });

  it('drains with several batches in flight and never runs deliveries already processed again', async () => {
    const { t, processor } = await boot(
      async (e, ctx) => {
        await ctx.tx.query(EFFECT, [e.id, e.payload.key, e.payload.n]);
      },
      { concurrency: 16, batchSize: 50 },
    );
    const ids = await publishAll(t, interleaved(40, 5));
    // Fan the events out, then three deliveries were handled before: they must not run again.
    await t.app.get(ConsumerDirectory).announceHosted();
    await t.app.get(DeliveryPipeline).sequence();
    const done = await pool.query(
      `update integration_delivery set status = 'processed', attempt_count = 1, processed_at = now()
        where consumer_name = 'lanes' and event_id = any($1::uuid[])`,
      [ids.slice(0, 3)],
    );
    expect(done.rowCount).toBe(3);
    const result = await processor.drain({ timeoutMs: 30_000 });
    expect(result).toMatchObject({ claimed: 197, processed: 197 });
    expect(result.batches).toBeGreaterThan(1);
    expect(await effects()).toHaveLength(197);
    expect(await deliveries()).toEqual([{ status: 'processed', n: 200 }]);
  });
});
