import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import {
  EventSubscriberRegistry,
  InboxService,
  OnIntegrationEvent,
  OutboxProcessor,
  pgAdapter,
  type HandlerContext,
  type IntegrationDatabaseAdapter,
  type IntegrationEvent,
} from '../../src/integration';
import { INTEGRATION_DATABASE } from '../../src/integration/integration.constants';
import { execIn } from '../support/orm-sql';
import { gate } from '../support/wait-for';
import { createIntegrationApp, publishAll, type OrmKind } from '../support/integration-app';
import { noRetryDelay, thingEvent, useEffectFixture } from '../support/effect-fixture';

describe('hardening: subscribers, dispatcher, inbox', () => {
  const fx = useEffectFixture('hs_effect');
  const { apps, effectSql: EFFECT, status } = fx;

  describe('every documented option of @OnIntegrationEvent takes effect (hardening #1)', () => {
    /** What the decorated handlers saw. */
    class Seen {
      order: string[] = [];
      inFlight = 0;
      maxInFlight = 0;
      outsideTx: unknown[] = [];
      eachTxids = new Set<string>();
      fragileCalls = 0;
    }

    @Injectable()
    class DecoratedOptions {
      constructor(private readonly seen: Seen) {}

      // Declared first, lower priority: must run second.
      @OnIntegrationEvent('opt.ordered', { consumer: 'ordered', priority: 1 })
      low(e: IntegrationEvent): void {
        this.seen.order.push(`low:${e.aggregateId}`);
      }

      @OnIntegrationEvent('opt.ordered', { consumer: 'ordered', priority: 5 })
      high(e: IntegrationEvent): void {
        this.seen.order.push(`high:${e.aggregateId}`);
      }

      @OnIntegrationEvent('opt.lane', { consumer: 'lanes', concurrency: 8 })
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

      @OnIntegrationEvent('opt.fragile', { consumer: 'fragile', retry: { maxAttempts: 1 } })
      fragile(): void {
        this.seen.fragileCalls++;
        throw new Error('fragile refuses');
      }

      @OnIntegrationEvent('opt.outside', { consumer: 'outside', transactional: false })
      outside(_e: IntegrationEvent, ctx: HandlerContext): void {
        this.seen.outsideTx.push(ctx.tx);
      }

      @OnIntegrationEvent('opt.each', { consumer: 'each', transactional: 'per-event' })
      async each(_e: IntegrationEvent, ctx: HandlerContext<PoolClient>): Promise<void> {
        const { rows } = await ctx.tx.query<{ txid: string }>(
          'select txid_current()::text as txid',
        );
        this.seen.eachTxids.add(rows[0]!.txid);
      }
    }

    it('passes consumer, priority, retry, transactional and concurrency through the decorator (hardening #1)', async () => {
      const seen = new Seen();
      const t = await createIntegrationApp(fx.db.url, {
        orm: 'pg',
        integration: {
          database: pgAdapter(fx.pipelined),
          processor: { batchSize: 500, retry: noRetryDelay },
        },
        metadata: { providers: [{ provide: Seen, useValue: seen }, DecoratedOptions] },
      });
      apps.push(t);

      const registry = t.app.get(EventSubscriberRegistry);
      expect(registry.getConsumers().sort()).toEqual([
        'each',
        'fragile',
        'lanes',
        'ordered',
        'outside',
      ]);
      expect(registry.getConsumerSettings('lanes')).toMatchObject({
        concurrency: 8,
        transactional: 'batch',
      });
      expect(registry.getConsumerSettings('fragile')?.retry).toEqual({ maxAttempts: 1 });
      expect(registry.getConsumerSettings('outside')?.transactional).toBe(false);
      expect(registry.getConsumerSettings('each')?.transactional).toBe('per-event');
      expect(
        registry.getHandlers('opt.ordered').map((h) => [h.consumer, h.name, h.priority]),
      ).toEqual([
        ['ordered', 'DecoratedOptions.high', 5],
        ['ordered', 'DecoratedOptions.low', 1],
      ]);

      const lanes = Array.from({ length: 6 }, (_, n) =>
        Array.from({ length: 12 }, (_, k) => thingEvent('opt.lane', `k${k}`, { n })),
      ).flat();
      await publishAll(t, [
        ...lanes,
        thingEvent('opt.ordered', 'o1'),
        thingEvent('opt.fragile', 'f1'),
        thingEvent('opt.outside', 'x1'),
        thingEvent('opt.each', 'e1'),
        thingEvent('opt.each', 'e2'),
      ]);
      const result = await t.app.get(OutboxProcessor).processBatch();
      expect(result).toMatchObject({ claimed: 77, processed: 76, deadLettered: 1 });

      // concurrency: lanes of different keys ran side by side.
      expect(seen.maxInFlight).toBe(8);
      expect(
        (await fx.pool.query("select * from hs_effect where consumer = 'lanes'")).rowCount,
      ).toBe(72);
      // priority: the higher one first.
      expect(seen.order).toEqual(['high:o1', 'low:o1']);
      // retry: the consumer's one attempt dead-letters at once (the processor would allow 5).
      expect(seen.fragileCalls).toBe(1);
      expect(await status('opt.fragile')).toEqual([
        { consumer: 'fragile', status: 'dead_letter', attempt_count: 1 },
      ]);
      // transactional: false runs without a transaction; 'per-event' one transaction per event.
      expect(seen.outsideTx).toEqual([undefined]);
      expect(seen.eachTxids.size).toBe(2);
      // consumer: each consumer has its own deliveries.
      const deliveries = await fx.pool.query<{ consumer_name: string; status: string; n: number }>(
        `select consumer_name, status, count(*)::int as n from integration_delivery
          group by consumer_name, status order by consumer_name`,
      );
      expect(deliveries.rows).toEqual([
        { consumer_name: 'each', status: 'processed', n: 2 },
        { consumer_name: 'fragile', status: 'dead_letter', n: 1 },
        { consumer_name: 'lanes', status: 'processed', n: 72 },
        { consumer_name: 'ordered', status: 'processed', n: 1 },
        { consumer_name: 'outside', status: 'processed', n: 1 },
      ]);
    });
  });

  describe('each consumer gets its own read-only event (hardening #5)', () => {
    interface Order {
      amount: number;
      items: string[];
      customer: { id: string };
    }

    /** What the consumers saw and did. */
    class Exchange {
      readonly mutated = gate();
      refused: string[] = [];
      seenByReader: unknown[] = [];
      seenByLaterHandler: unknown[] = [];
    }

    const snapshot = (e: IntegrationEvent<Order>) => ({
      payload: JSON.parse(JSON.stringify(e.payload)) as unknown,
      headers: { ...e.headers },
      createdAt: e.createdAt.toISOString(),
    });

    @Injectable()
    class Mutator {
      constructor(private readonly exchange: Exchange) {}

      @OnIntegrationEvent('order.placed', { consumer: 'mutator', priority: 1 })
      tamper(e: IntegrationEvent<Order>): void {
        const attempts: Record<string, () => unknown> = {
          'payload.amount': () => ((e.payload as { amount: number }).amount = 999),
          'payload.items.push': () => e.payload.items.push('forged'),
          'payload.customer.id': () => (e.payload.customer.id = 'someone-else'),
          'payload.replace': () => ((e as { payload: unknown }).payload = {}),
          'headers.actor': () => ((e.headers as Record<string, string>).actor = 'mallory'),
          'createdAt.setTime': () => e.createdAt.setTime(0),
        };
        try {
          for (const [what, attempt] of Object.entries(attempts)) {
            try {
              attempt();
            } catch (error) {
              if (error instanceof TypeError) this.exchange.refused.push(what);
              else throw error;
            }
          }
        } finally {
          this.exchange.mutated.open();
        }
      }

      // Same consumer, runs after tamper: consumers, not handlers, get their own view.
      @OnIntegrationEvent('order.placed', { consumer: 'mutator' })
      later(e: IntegrationEvent<Order>): void {
        this.exchange.seenByLaterHandler.push(snapshot(e));
      }
    }

    @Injectable()
    class Reader {
      constructor(private readonly exchange: Exchange) {}

      @OnIntegrationEvent('order.placed', { consumer: 'reader' })
      async read(e: IntegrationEvent<Order>): Promise<void> {
        // Reads only once the other consumer has tried its worst on the same event.
        await this.exchange.mutated.promise;
        this.exchange.seenByReader.push(snapshot(e));
      }
    }

    it('a consumer cannot change what another consumer sees; attempts throw TypeError (hardening #5)', async () => {
      const exchange = new Exchange();
      const t = await createIntegrationApp(fx.db.url, {
        orm: 'pg',
        integration: { processor: { retry: noRetryDelay } },
        metadata: { providers: [{ provide: Exchange, useValue: exchange }, Mutator, Reader] },
      });
      apps.push(t);
      const payload: Order = { amount: 10, items: ['a', 'b'], customer: { id: 'c1' } };
      await publishAll(t, [
        { ...thingEvent('order.placed', 'o1', payload), headers: { actor: 'alice' } },
      ]);

      // One delivery per consumer (mutator, reader), both handled.
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
        claimed: 2,
        processed: 2,
      });
      expect(exchange.refused).toEqual([
        'payload.amount',
        'payload.items.push',
        'payload.customer.id',
        'payload.replace',
        'headers.actor',
        'createdAt.setTime',
      ]);
      const stored = await fx.pool.query<{ created_at: Date }>(
        'select created_at from outbox_event',
      );
      const original = {
        payload,
        headers: expect.objectContaining({ actor: 'alice' }) as unknown,
        createdAt: stored.rows[0]!.created_at.toISOString(),
      };
      expect(exchange.seenByReader).toEqual([original]);
      expect(exchange.seenByLaterHandler).toEqual([original]);
    });
  });

  it.each<OrmKind>(['pg', 'knex', 'prisma'])(
    'a per-event handler throwing undefined fails its event, never settles it as done, with %s (hardening #15)',
    async (orm) => {
      const t = await createIntegrationApp(fx.db.url, {
        orm,
        integration: { processor: { retry: noRetryDelay } },
      });
      apps.push(t);
      t.app.get(EventSubscriberRegistry).register({
        pattern: 'thing.happened',
        consumer: 'each',
        name: 'Each.throwsUndefined',
        transactional: 'per-event',
        handle: async (e, ctx) => {
          await execIn(orm, ctx.tx, EFFECT, ['each', e.id, 'rolled back']);
          throw undefined;
        },
      });
      await publishAll(t, [thingEvent('thing.happened', 't1')]);
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
        claimed: 1,
        processed: 0,
        retried: 1,
      });
      expect((await fx.pool.query('select * from hs_effect')).rowCount).toBe(0);
      expect(
        (
          await fx.pool.query(
            'select consumer_name, status, attempt_count, last_error from integration_delivery',
          )
        ).rows,
      ).toEqual([
        {
          consumer_name: 'each',
          status: 'pending',
          attempt_count: 1,
          last_error: 'Non-Error thrown: undefined',
        },
      ]);
    },
  );

  it.each<OrmKind>(['pg', 'knex', 'prisma'])(
    'the %s adapter rolls back and rejects with exactly what the transaction callback threw, undefined included (hardening #15)',
    async (orm) => {
      const t = await createIntegrationApp(fx.db.url, { orm });
      apps.push(t);
      const database = t.app.get<IntegrationDatabaseAdapter>(INTEGRATION_DATABASE);
      for (const thrown of [undefined, null, 'text']) {
        const run = database.transaction(async (_tx, sql) => {
          await sql.query(EFFECT, ['adapter', orm, String(thrown)]);
          throw thrown;
        });
        await expect(run).rejects.toBe(thrown);
      }
      expect(
        (await fx.pool.query("select * from hs_effect where consumer = 'adapter'")).rowCount,
      ).toBe(0);
    },
  );

  describe.each<OrmKind>(['pg', 'knex', 'prisma'])(
    'InboxService.runOnce records whatever fn throws, with %s (hardening #15)',
    (orm) => {
      it.each<[string, unknown, string]>([
        ['undefined', undefined, 'Non-Error thrown: undefined'],
        ['null', null, 'Non-Error thrown: null'],
        ['a number', 42, 'Non-Error thrown: 42'],
        ['a plain object', { reason: 'no' }, 'Non-Error thrown: {"reason":"no"}'],
      ])(
        'fn throwing %s: rolled back, row failed with a readable last_error, rethrown as is (hardening #15)',
        async (_label, thrown, lastError) => {
          const t = await createIntegrationApp(fx.db.url, { orm });
          apps.push(t);
          const inbox = t.app.get(InboxService);
          const key = { eventId: `m-${orm}`, consumer: 'webhooks' };
          const failing = inbox.runOnce(key, async () => {
            await Promise.resolve();
            throw thrown;
          });
          await expect(failing).rejects.toBe(thrown);
          expect(await inbox.findByEvent(key.eventId)).toEqual([
            expect.objectContaining({
              consumer: 'webhooks',
              status: 'failed',
              attemptCount: 1,
              lastError,
            }),
          ]);

          // The next attempt runs and is counted on the same row.
          await expect(inbox.runOnce(key, async () => 'ok')).resolves.toEqual({
            executed: true,
            result: 'ok',
          });
          expect(await inbox.findByEvent(key.eventId)).toEqual([
            expect.objectContaining({ status: 'processed', attemptCount: 2, lastError: null }),
          ]);
        },
      );
    },
  );
});
