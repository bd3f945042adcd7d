import { Injectable, Logger, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { PoolClient } from 'pg';
import {
  ConflictingConsumerError,
  DuplicateHandlerError,
  EventSubscriberRegistry,
  IntegrationConsumer,
  IntegrationModule,
  InvalidHandlerError,
  MisplacedHandlerOptionError,
  OnIntegrationEvent,
  OutboxProcessor,
  pgAdapter,
  type HandlerContext,
  type IntegrationEvent,
} from '../../src/integration';
import { createIntegrationApp, createOrm, publishAll } from '../support/integration-app';
import { noRetryDelay, thingEvent, useEffectFixture } from '../support/effect-fixture';

describe('class-level consumers: @IntegrationConsumer (issue 13)', () => {
  const fx = useEffectFixture('ic_effect');
  const { apps, effectSql: EFFECT, status } = fx;

  /** What the handlers saw. */
  class Seen {
    order: string[] = [];
    inFlight = 0;
    maxInFlight = 0;
    outsideTx: unknown[] = [];
    eachTxids = new Set<string>();
    fragileCalls = 0;
  }

  @Injectable()
  @IntegrationConsumer('ordered')
  class Ordered {
    constructor(private readonly seen: Seen) {}

    // Declared first, lower priority: must run second.
    @OnIntegrationEvent('ic.ordered', { priority: 1 })
    low(e: IntegrationEvent): void {
      this.seen.order.push(`low:${e.aggregateId}`);
    }

    @OnIntegrationEvent('ic.ordered', { priority: 5 })
    high(e: IntegrationEvent): void {
      this.seen.order.push(`high:${e.aggregateId}`);
    }

    @OnIntegrationEvent('ic.*')
    any(e: IntegrationEvent): void {
      if (e.name === 'ic.ordered') this.seen.order.push(`any:${e.aggregateId}`);
    }
  }

  @Injectable()
  @IntegrationConsumer('lanes', { concurrency: 8 })
  class Lanes {
    constructor(private readonly seen: Seen) {}

    @OnIntegrationEvent('ic.lane')
    async lane(e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
      this.seen.maxInFlight = Math.max(this.seen.maxInFlight, ++this.seen.inFlight);
      try {
        // Two statements per event: lanes that run side by side interleave on the connection.
        await ctx.tx.query('select pg_sleep(0.001)');
        await ctx.tx.query(EFFECT, ['lanes', e.id, e.aggregateId]);
      } finally {
        this.seen.inFlight--;
      }
    }
  }

  @Injectable()
  @IntegrationConsumer('fragile', { retry: { maxAttempts: 1 } })
  class Fragile {
    constructor(private readonly seen: Seen) {}

    @OnIntegrationEvent('ic.fragile')
    fragile(): void {
      this.seen.fragileCalls++;
      throw new Error('fragile refuses');
    }
  }

  @Injectable()
  @IntegrationConsumer('outside', { transactional: false })
  class Outside {
    constructor(private readonly seen: Seen) {}

    @OnIntegrationEvent('ic.outside')
    outside(_e: IntegrationEvent, ctx: HandlerContext): void {
      this.seen.outsideTx.push(ctx.tx);
    }
  }

  @Injectable()
  @IntegrationConsumer('each', { transactional: 'per-event' })
  class Each {
    constructor(private readonly seen: Seen) {}

    @OnIntegrationEvent('ic.each')
    async each(_e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
      const { rows } = await ctx.tx.query<{ txid: string }>('select txid_current()::text as txid');
      this.seen.eachTxids.add(rows[0]!.txid);
    }
  }

  // Two classes of one consumer, identical options (written differently).
  @Injectable()
  @IntegrationConsumer('split', {
    transactional: 'per-event',
    retry: { maxAttempts: 2, baseDelayMs: 0 },
  })
  class SplitA {
    @OnIntegrationEvent('ic.split', { priority: 1 })
    async first(e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
      await ctx.tx.query(EFFECT, ['split', e.id, 'A']);
    }
  }

  @Injectable()
  @IntegrationConsumer('split', {
    retry: { baseDelayMs: 0, maxAttempts: 2 },
    transactional: 'per-event',
  })
  class SplitB {
    @OnIntegrationEvent('ic.split')
    async second(e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
      await ctx.tx.query(EFFECT, ['split', e.id, 'B']);
    }
  }

  it('consumer options on the class take effect: transactional, retry, concurrency; priorities within the class (issue 13 #class-options)', async () => {
    const seen = new Seen();
    const t = await createIntegrationApp(fx.db.url, {
      orm: 'pg',
      integration: {
        database: pgAdapter(fx.pipelined),
        processor: { batchSize: 500, retry: noRetryDelay },
      },
      metadata: {
        providers: [
          { provide: Seen, useValue: seen },
          Ordered,
          Lanes,
          Fragile,
          Outside,
          Each,
          SplitA,
          SplitB,
        ],
      },
    });
    apps.push(t);

    const registry = t.app.get(EventSubscriberRegistry);
    expect(registry.getConsumers().sort()).toEqual([
      'each',
      'fragile',
      'lanes',
      'ordered',
      'outside',
      'split',
    ]);
    expect(registry.getConsumerSettings('lanes')).toEqual({
      consumer: 'lanes',
      transactional: 'batch',
      retry: undefined,
      concurrency: 8,
      startFrom: 'now',
    });
    expect(registry.getConsumerSettings('split')).toMatchObject({ transactional: 'per-event' });
    expect(registry.getHandlers('ic.ordered').map((h) => [h.consumer, h.name, h.priority])).toEqual(
      [
        ['ordered', 'Ordered.high', 5],
        ['ordered', 'Ordered.low', 1],
        ['ordered', 'Ordered.any', 0],
      ],
    );

    const lanes = Array.from({ length: 6 }, (_, n) =>
      Array.from({ length: 12 }, (_, k) => thingEvent('ic.lane', `k${k}`, { n })),
    ).flat();
    await publishAll(t, [
      ...lanes,
      thingEvent('ic.ordered', 'o1'),
      thingEvent('ic.fragile', 'f1'),
      thingEvent('ic.outside', 'x1'),
      thingEvent('ic.each', 'e1'),
      thingEvent('ic.each', 'e2'),
      thingEvent('ic.split', 's1'),
    ]);
    const result = await t.app.get(OutboxProcessor).processBatch();
    // Counts are per delivery: lanes 72, ordered 78 (its 'ic.*' matches every event), fragile,
    // outside and split 1 each, each 2.
    expect(result).toMatchObject({ claimed: 155, processed: 154, deadLettered: 1 });

    // concurrency: lanes of different keys ran side by side.
    expect(seen.maxInFlight).toBe(8);
    expect((await fx.pool.query("select * from ic_effect where consumer = 'lanes'")).rowCount).toBe(
      72,
    );
    // priority within the class: higher first, then the default 0.
    expect(seen.order).toEqual(['high:o1', 'low:o1', 'any:o1']);
    // retry: the class's one attempt dead-letters at once (the processor would allow 5).
    expect(seen.fragileCalls).toBe(1);
    expect(await status('ic.fragile')).toEqual([
      { consumer: 'fragile', status: 'dead_letter', attempt_count: 1 },
      { consumer: 'ordered', status: 'processed', attempt_count: 1 },
    ]);
    // transactional: false runs without a transaction; 'per-event' one transaction per event.
    expect(seen.outsideTx).toEqual([undefined]);
    expect(seen.eachTxids.size).toBe(2);
    // Two classes of one consumer: both handlers ran (priority across the classes), one delivery.
    expect(
      (
        await fx.pool.query<{ note: string }>(
          "select note from ic_effect where consumer = 'split' order by seq",
        )
      ).rows,
    ).toEqual([{ note: 'A' }, { note: 'B' }]);
    const deliveries = await fx.pool.query<{ consumer_name: string; status: string; n: number }>(
      `select consumer_name, status, count(*)::int as n from integration_delivery
        group by consumer_name, status order by consumer_name`,
    );
    expect(deliveries.rows).toEqual([
      { consumer_name: 'each', status: 'processed', n: 2 },
      { consumer_name: 'fragile', status: 'dead_letter', n: 1 },
      { consumer_name: 'lanes', status: 'processed', n: 72 },
      // Ordered.any ('ic.*') makes `ordered` a consumer of all 78 events.
      { consumer_name: 'ordered', status: 'processed', n: 78 },
      { consumer_name: 'outside', status: 'processed', n: 1 },
      { consumer_name: 'split', status: 'processed', n: 1 },
    ]);
  });

  it('programmatic registration: registerConsumer once, then handlers that name the consumer (issue 13 #programmatic)', async () => {
    const t = await createIntegrationApp(fx.db.url, {
      orm: 'pg',
      integration: { processor: { retry: noRetryDelay } },
    });
    apps.push(t);
    const registry = t.app.get(EventSubscriberRegistry);
    let calls = 0;
    registry.registerConsumer('prog', { transactional: false, retry: { maxAttempts: 2 } });
    registry.register({
      pattern: 'ic.prog',
      consumer: 'prog',
      name: 'prog.handle',
      handle: (_e, ctx) => {
        calls++;
        // transactional: false reaches the handler as "no transaction".
        if (ctx.tx !== undefined) throw new Error('expected no transaction');
        throw new Error('always fails');
      },
    });
    await publishAll(t, [thingEvent('ic.prog', 'p1')]);
    const processor = t.app.get(OutboxProcessor);
    await processor.processBatch();
    await processor.processBatch();
    expect(calls).toBe(2);
    expect(await status('ic.prog')).toEqual([
      { consumer: 'prog', status: 'dead_letter', attempt_count: 2 },
    ]);
  });

  it('the deprecated @OnIntegrationEvent(pattern, { consumer }) form still works, with one warning per class (issue 13 #legacy)', async () => {
    @Injectable()
    class Legacy {
      @OnIntegrationEvent('ic.legacy', { consumer: 'legacy', transactional: 'per-event' })
      async one(e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
        await ctx.tx.query(EFFECT, ['legacy', e.id, 'one']);
      }

      @OnIntegrationEvent('ic.legacy', { consumer: 'legacy' })
      async two(e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
        await ctx.tx.query(EFFECT, ['legacy', e.id, 'two']);
      }
    }
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const t = await createIntegrationApp(fx.db.url, {
        orm: 'pg',
        metadata: { providers: [Legacy] },
      });
      apps.push(t);
      const deprecations = warn.mock.calls.filter(([message]) =>
        String(message).startsWith(
          'Legacy: @OnIntegrationEvent(pattern, { consumer, ... }) without @IntegrationConsumer is deprecated',
        ),
      );
      expect(deprecations).toHaveLength(1);
      expect(t.app.get(EventSubscriberRegistry).getConsumerSettings('legacy')?.transactional).toBe(
        'per-event',
      );
      await publishAll(t, [thingEvent('ic.legacy', 'l1')]);
      await t.app.get(OutboxProcessor).processBatch();
      expect(
        (await fx.pool.query("select note from ic_effect where consumer = 'legacy' order by seq"))
          .rows,
      ).toEqual([{ note: 'one' }, { note: 'two' }]);
    } finally {
      warn.mockRestore();
    }
  });

  it('one method of a consumer class may take several patterns; the same pattern twice is a duplicate (issue 13 #patterns)', async () => {
    @Injectable()
    @IntegrationConsumer('multi')
    class Multi {
      @OnIntegrationEvent('ic.opened')
      @OnIntegrationEvent('ic.closed')
      async onEither(e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
        await ctx.tx.query(EFFECT, ['multi', e.id, e.name]);
      }
    }
    const t = await createIntegrationApp(fx.db.url, {
      orm: 'pg',
      metadata: { providers: [Multi] },
    });
    apps.push(t);
    expect(
      t.app
        .get(EventSubscriberRegistry)
        .getHandlers('ic.closed')
        .map((h) => h.name),
    ).toEqual(['Multi.onEither(ic.closed)']);
    await publishAll(t, [
      thingEvent('ic.opened', 'm1'),
      thingEvent('ic.closed', 'm1'),
      thingEvent('ic.other', 'm1'),
    ]);
    await t.app.get(OutboxProcessor).processBatch();
    expect(
      (await fx.pool.query("select note from ic_effect where consumer = 'multi' order by seq"))
        .rows,
    ).toEqual([{ note: 'ic.opened' }, { note: 'ic.closed' }]);
  });

  it('a consumer class without handler methods is declared and logged (issue 13 #empty)', async () => {
    @Injectable()
    @IntegrationConsumer('empty', { transactional: false })
    class Empty {}
    const warn = jest.spyOn(Logger.prototype, 'warn');
    try {
      const t = await createIntegrationApp(fx.db.url, {
        orm: 'pg',
        metadata: { providers: [Empty] },
      });
      apps.push(t);
      expect(warn.mock.calls.map(([m]) => String(m))).toContain(
        'Empty declares consumer "empty" but has no @OnIntegrationEvent methods',
      );
      const registry = t.app.get(EventSubscriberRegistry);
      expect(registry.getConsumerSettings('empty')?.transactional).toBe(false);
      expect(registry.getConsumers()).toEqual([]);
    } finally {
      warn.mockRestore();
    }
  });

  describe('refused at bootstrap, before anything is written (issue 13 #refusals)', () => {
    const bootstrap = async (providers: Provider[]): Promise<unknown> => {
      const orm = createOrm('pg', fx.db.url);
      try {
        const moduleRef = await Test.createTestingModule({
          imports: [
            IntegrationModule.forRoot({ database: orm.adapter, processor: { enabled: false } }),
          ],
          providers,
        }).compile();
        const app = moduleRef.createNestApplication({ logger: false });
        const error = await app.init().then(
          () => undefined,
          (e: unknown) => e,
        );
        await app.close();
        return error;
      } finally {
        await orm.close();
      }
    };
    const rows = async () =>
      (
        await fx.pool.query<{ n: number }>(
          `select (select count(*) from outbox_event) + (select count(*) from inbox_event)
                + (select count(*) from integration_delivery)
                + (select count(*) from integration_consumer) as n`,
        )
      ).rows[0]!.n;

    it('a method naming a consumer inside an @IntegrationConsumer class', async () => {
      @Injectable()
      @IntegrationConsumer('owner')
      class Mixed {
        @OnIntegrationEvent('ic.a')
        fine(): void {}

        @OnIntegrationEvent('ic.b', { consumer: 'other' })
        elsewhere(): void {}
      }
      const error = await bootstrap([Mixed]);
      expect(error).toBeInstanceOf(MisplacedHandlerOptionError);
      expect(error).toMatchObject({
        handler: 'Mixed.elsewhere',
        consumer: 'owner',
        options: ['consumer'],
      });
      expect((error as Error).message).toContain(
        "move transactional, retry and concurrency to @IntegrationConsumer('owner'",
      );
      expect(Number(await rows())).toBe(0);
    });

    it('a method setting consumer options inside an @IntegrationConsumer class', async () => {
      @Injectable()
      @IntegrationConsumer('owner')
      class MethodOptions {
        @OnIntegrationEvent('ic.a', {
          consumer: 'owner',
          retry: { maxAttempts: 2 },
          concurrency: 2,
        } as never)
        handle(): void {}
      }
      const error = await bootstrap([MethodOptions]);
      expect(error).toBeInstanceOf(MisplacedHandlerOptionError);
      expect(error).toMatchObject({ options: ['consumer', 'retry', 'concurrency'] });
    });

    it('two classes declaring one consumer with different options', async () => {
      @Injectable()
      @IntegrationConsumer('shared', { retry: { maxAttempts: 3 } })
      class First {
        @OnIntegrationEvent('ic.a')
        handle(): void {}
      }
      @Injectable()
      @IntegrationConsumer('shared')
      class Second {
        @OnIntegrationEvent('ic.b')
        handle(): void {}
      }
      const error = await bootstrap([First, Second]);
      expect(error).toBeInstanceOf(ConflictingConsumerError);
      expect((error as Error).message).toContain(
        'Consumer "shared" is declared by First and again by Second',
      );
    });

    it('one pattern twice on one method of a consumer class', async () => {
      @Injectable()
      @IntegrationConsumer('twice')
      class Twice {
        @OnIntegrationEvent('ic.a')
        @OnIntegrationEvent('ic.a', { priority: 2 })
        handle(): void {}
      }
      expect(await bootstrap([Twice])).toBeInstanceOf(DuplicateHandlerError);
    });

    it('invalid class-level options', async () => {
      @Injectable()
      @IntegrationConsumer('wide', { transactional: 'per-event', concurrency: 4 })
      class Wide {
        @OnIntegrationEvent('ic.a')
        handle(): void {}
      }
      const error = await bootstrap([Wide]);
      expect(error).toBeInstanceOf(InvalidHandlerError);
      expect((error as Error).message).toContain("concurrency 4 needs transactional: 'batch'");
      @Injectable()
      @IntegrationConsumer('bad name')
      class BadName {
        @OnIntegrationEvent('ic.a')
        handle(): void {}
      }
      expect(await bootstrap([BadName])).toBeInstanceOf(InvalidHandlerError);
    });
  });
});
