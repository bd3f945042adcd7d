import { Injectable, Scope, type Provider } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Pool, type PoolClient } from 'pg';
import {
  ConsumerDirectory,
  DomainEventPublisher,
  DuplicateHandlerError,
  EventSubscriberRegistry,
  HandlerNotIdempotentError,
  InboxService,
  InboxStatus,
  IntegrationAdminService,
  IntegrationModule,
  InvalidEventPatternError,
  InvalidHandlerError,
  InvalidInboxKeyError,
  JitterMode,
  LinkType,
  OnIntegrationEvent,
  OutboxProcessor,
  RequestScopedHandlerError,
  TransactionRequiredError,
  type HandlerContext,
  type IntegrationEvent,
  type IntegrationModuleOptions,
  type PublishEventInput,
} from '../../src/integration';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { DeliveryRepository } from '../../src/integration/processing/delivery.repository';
import { ConsumerRunners } from '../../src/integration/processing/runners/consumer-runners';
import { assertHandlerIdempotent, drainUntilIdle } from '../../src/integration/testing';
import {
  createIntegrationApp,
  createOrm,
  inTransaction,
  type IntegrationTestApp,
  type OrmKind,
} from '../support/integration-app';
import { execIn } from '../support/orm-sql';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** Per-test-file switches the decorated providers read (no process-global state across apps). */
class Behaviour {
  failNotifications = 0;
  failEventIds = new Set<string>();
  order: string[] = [];
}

const EFFECT = 'insert into test_effect (consumer, event_id, note) values ($1, $2, $3)';

function auditProvider(kind: OrmKind) {
  @Injectable()
  class AuditSubscriber {
    constructor(readonly behaviour: Behaviour) {}

    @OnIntegrationEvent('vault.*', { consumer: 'audit' })
    async onVaultEvent(event: IntegrationEvent<{ vaultId: string }>, ctx: HandlerContext) {
      this.behaviour.order.push(`audit:${event.name}`);
      if (this.behaviour.failEventIds.has(event.id))
        throw new Error(`audit cannot handle ${event.id}`);
      await execIn(kind, ctx.tx, EFFECT, ['audit', event.id, event.name]);
    }
  }
  return AuditSubscriber;
}

function notificationProvider(kind: OrmKind) {
  @Injectable()
  class NotificationSubscriber {
    constructor(readonly behaviour: Behaviour) {}

    @OnIntegrationEvent('vault.closed', { consumer: 'notifications', priority: 1 })
    async first(event: IntegrationEvent, ctx: HandlerContext) {
      this.behaviour.order.push('notifications:first');
      await execIn(kind, ctx.tx, EFFECT, ['notifications', event.id, `attempt ${ctx.attempt}`]);
      await ctx.links.link({
        source: { module: 'notifications', entityType: 'Notification', entityId: `n-${event.id}` },
        target: { module: 'vault', entityType: 'Vault', entityId: event.aggregateId },
        linkType: LinkType.Reference,
      });
      if (this.behaviour.failNotifications > 0) {
        this.behaviour.failNotifications--;
        throw new Error('mail server down');
      }
    }

    @OnIntegrationEvent('vault.closed', { consumer: 'notifications' })
    second() {
      this.behaviour.order.push('notifications:second');
    }
  }
  return NotificationSubscriber;
}

const closed = (vaultId: string, extra: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'vault.closed',
  aggregateType: 'Vault',
  aggregateId: vaultId,
  payload: { vaultId },
  ...extra,
});

describe.each<OrmKind>(['prisma', 'knex', 'pg'])('subscribers and inbox with %s', (kind) => {
  let db: TestDatabase;
  let pool: Pool;
  let t: IntegrationTestApp;
  let behaviour: Behaviour;

  const effects = async (consumer?: string) =>
    (
      await pool.query<{ consumer: string; event_id: string; note: string }>(
        'select consumer, event_id, note from test_effect where $1::text is null or consumer = $1 order by consumer, id',
        [consumer ?? null],
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    await pool.query(
      'create table test_effect (id serial primary key, consumer text not null, event_id text not null, note text)',
    );
  });
  beforeEach(async () => {
    behaviour = new Behaviour();
    t = await createIntegrationApp(db.url, {
      orm: kind,
      integration: {
        processor: {
          retry: { baseDelayMs: 0, maxDelayMs: 0, maxAttempts: 5, jitter: JitterMode.None },
        },
      },
      metadata: {
        providers: [
          { provide: Behaviour, useValue: behaviour },
          auditProvider(kind),
          notificationProvider(kind),
        ],
      },
    });
  });
  afterEach(async () => {
    await t.close();
    await pool.query(
      'truncate test_effect, outbox_event, inbox_event, integration_link, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const publish = async (input: PublishEventInput): Promise<string> =>
    (await t.app.get(DomainEventPublisher).publishStandalone(input))!;

  it('one vault.closed event runs both consumers once', async () => {
    const id = await publish(closed('v1'));
    // One delivery per consumer.
    expect(await drainUntilIdle(t.app)).toMatchObject({ claimed: 2, processed: 2 });
    expect(await effects()).toEqual([
      { consumer: 'audit', event_id: id, note: 'vault.closed' },
      { consumer: 'notifications', event_id: id, note: 'attempt 1' },
    ]);
  });

  it('replaying one vault.closed event 5 times leaves exactly one effect per consumer', async () => {
    const id = await publish(closed('v1'));
    for (const consumer of ['audit', 'notifications']) {
      const report = await assertHandlerIdempotent(t.app, {
        event: id,
        consumer,
        times: 5,
        observe: async () => (await effects(consumer)).length,
      });
      expect(report).toMatchObject({ eventId: id, deliveries: 5, mutations: 1 });
    }
    // The processor's own delivery afterwards changes nothing either.
    await drainUntilIdle(t.app);
    expect((await effects()).map((e) => e.consumer)).toEqual(['audit', 'notifications']);
  });

  it('assertHandlerIdempotent passes on a fresh event and sees exactly one mutation', async () => {
    const report = await assertHandlerIdempotent(t.app, {
      event: closed('fresh'),
      consumer: 'audit',
      observe: async () => (await effects('audit')).map((r) => r.note),
    });
    expect(report.mutations).toBe(1);
    expect(await effects('audit')).toHaveLength(1);
  });

  it('handlers of one consumer run by priority, then registration order', async () => {
    await publish(closed('v2'));
    await drainUntilIdle(t.app);
    expect(behaviour.order.filter((o) => o.startsWith('notifications'))).toEqual([
      'notifications:first',
      'notifications:second',
    ]);
  });

  it('consumer B failing twice then succeeding: A once, B once, delivery rows show attempts', async () => {
    behaviour.failNotifications = 2;
    const id = await publish(closed('v3'));
    const processor = t.app.get(OutboxProcessor);
    // First cycle: audit's delivery is processed, notifications' fails; then notifications alone.
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, processed: 1, retried: 1 });
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, retried: 1 });
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, processed: 1 });
    expect((await effects()).map((e) => e.consumer).sort()).toEqual(['audit', 'notifications']);
    expect(behaviour.order.filter((o) => o.startsWith('audit'))).toEqual(['audit:vault.closed']);
    const { deliveries } = (await t.app.get(IntegrationAdminService).findEvent(id))!;
    expect(
      [...deliveries]
        .sort((a, b) => a.consumer.localeCompare(b.consumer))
        .map((r) => [r.consumer, r.status, r.attemptCount]),
    ).toEqual([
      ['audit', 'processed', 1],
      ['notifications', 'processed', 3],
    ]);
    // The link written in the failed attempts rolled back with them: one link remains.
    expect((await pool.query('select count(*)::int as n from integration_link')).rows[0].n).toBe(1);
  });

  it('a batch of 100 where event 37 throws: 99 effects commit, 37 is retried alone', async () => {
    const processor = t.app.get(OutboxProcessor);
    const ids: string[] = [];
    for (let i = 0; i < 100; i++)
      ids.push(await publish({ ...closed(`b${i}`), name: 'vault.opened' }));
    behaviour.failEventIds.add(ids[37]!);
    expect(await processor.processBatch()).toMatchObject({
      claimed: 100,
      processed: 99,
      retried: 1,
    });
    expect((await effects('audit')).map((e) => e.event_id)).toEqual(ids.filter((_, i) => i !== 37));
    behaviour.failEventIds.clear();
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, processed: 1 });
    expect((await effects('audit')).map((e) => e.event_id).at(-1)).toBe(ids[37]);
    expect(await effects('audit')).toHaveLength(100);
  });

  it('crash between the handler commit and the settle: redelivery does not repeat the effect', async () => {
    const id = await publish(closed('crash'));
    const consumers = await t.app.get(ConsumerDirectory).announceHosted();
    await t.app.get(DeliveryPipeline).sequence();
    const claimed = await t.app
      .get(DeliveryRepository)
      .claim(t.orm.adapter, 'dying-worker', consumers, 10, 60_000);
    expect(claimed.map((d) => [d.eventId, d.consumer])).toEqual([
      [id, 'audit'],
      [id, 'notifications'],
    ]);
    // The dying worker runs each consumer's handlers (their effects commit with the processed
    // mark of the delivery) and dies before settling anything.
    const registry = t.app.get(EventSubscriberRegistry);
    for (const consumer of consumers) {
      const settings = registry.getConsumerSettings(consumer)!;
      const facts = await t.app
        .get(ConsumerRunners)
        .runnerFor(settings.transactional)
        .run({
          consumer,
          settings,
          workerId: 'dying-worker',
          deliveries: claimed.filter((d) => d.consumer === consumer),
          handlersOf: (d) => registry.getHandlersByConsumer(d.event.name).get(consumer) ?? [],
          isStopping: () => false,
        });
      expect(facts.map((f) => f.kind)).toEqual(['handled']);
    }
    expect(await effects()).toHaveLength(2);
    // Its leases run out: nothing is redelivered, nothing runs twice.
    await pool.query("update integration_delivery set locked_until = now() - interval '1 second'");
    expect(await drainUntilIdle(t.app)).toMatchObject({ claimed: 0, processed: 0 });
    expect(await effects()).toHaveLength(2);
    expect(
      (
        await pool.query(
          'select consumer_name, status, attempt_count from integration_delivery order by consumer_name',
        )
      ).rows,
    ).toEqual([
      { consumer_name: 'audit', status: 'processed', attempt_count: 1 },
      { consumer_name: 'notifications', status: 'processed', attempt_count: 1 },
    ]);
  });

  it('dead letter keeps per-consumer detail; replay re-runs only the consumer that has not processed it', async () => {
    behaviour.failNotifications = 100;
    const id = await publish(closed('dead'));
    const processor = t.app.get(OutboxProcessor);
    for (let i = 0; i < 5; i++) await processor.processBatch();
    const admin = t.app.get(IntegrationAdminService);
    const { deliveries } = (await admin.findEvent(id))!;
    expect(
      [...deliveries]
        .sort((a, b) => a.consumer.localeCompare(b.consumer))
        .map((r) => [r.consumer, r.status, r.attemptCount, r.lastError]),
    ).toEqual([
      ['audit', 'processed', 1, null],
      ['notifications', 'dead_letter', 5, 'Error: mail server down'],
    ]);
    behaviour.failNotifications = 0;
    behaviour.order = [];
    expect(await admin.replay(id)).toBe(1);
    await drainUntilIdle(t.app);
    expect(behaviour.order).toEqual(['notifications:first', 'notifications:second']);
    expect(await effects('audit')).toHaveLength(1);
  });
});

describe('subscriber edge cases (pg)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    await pool.query(
      'create table test_effect (id serial primary key, consumer text not null, event_id text not null, note text)',
    );
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await pool.query(
      'truncate test_effect, outbox_event, inbox_event, integration_link, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const boot = async (
    providers: Provider[],
    integration: Partial<IntegrationModuleOptions> = {},
  ) => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration,
      metadata: { providers },
    });
    apps.push(t);
    return t;
  };
  /** `[consumer] last_error` of every delivery, in publish order. */
  const lastErrors = async () =>
    (
      await pool.query(
        `select '[' || d.consumer_name || '] ' || d.last_error as e from integration_delivery d
           join outbox_event o on o.id = d.event_id order by o.seq, d.consumer_name`,
      )
    ).rows.map((r) => r.e);

  it('events with no matching consumer are settled as processed at once', async () => {
    const t = await boot([]);
    const id = (await t.app.get(DomainEventPublisher).publishStandalone(closed('nobody')))!;
    // Sequenced with no delivery: nothing to claim, nothing waits, and it counts as finished.
    expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({ claimed: 0 });
    const admin = t.app.get(IntegrationAdminService);
    expect(await admin.findEvent(id)).toMatchObject({ deliveries: [] });
    expect(await admin.getStats()).toEqual({ unsequenced: 0, consumers: [] });
    expect(await drainUntilIdle(t.app)).toMatchObject({ claimed: 0, batches: 0 });
    expect(await admin.purgeProcessed({ olderThanMs: 0 })).toBe(1);
    expect(await admin.findEvent(id)).toBeUndefined();
  });

  it('non-Error throws, rejections and hangs are recorded with a readable error; the loop goes on', async () => {
    const registry = () => t.app.get(EventSubscriberRegistry);
    const t = await boot([], { processor: { handlerTimeoutMs: 100, retry: { maxAttempts: 1 } } });
    registry().register({
      pattern: 'bad.string',
      consumer: 'c1',
      name: 'throwsString',
      handle: () => {
        throw 'just a string';
      },
    });
    registry().register({
      pattern: 'bad.object',
      consumer: 'c2',
      name: 'throwsObject',
      handle: () => {
        throw { code: 'E42' };
      },
    });
    registry().register({
      pattern: 'bad.reject',
      consumer: 'c3',
      name: 'rejects',
      handle: () => Promise.reject(new RangeError('nope')),
    });
    registry().register({
      pattern: 'bad.hang',
      consumer: 'c4',
      transactional: 'per-event',
      name: 'hangs',
      handle: () => new Promise(() => undefined),
    });
    registry().register({
      pattern: 'bad.hang-batch',
      consumer: 'c5',
      name: 'hangsInBatch',
      handle: () => new Promise(() => undefined),
    });
    const publisher = t.app.get(DomainEventPublisher);
    for (const name of ['bad.string', 'bad.object', 'bad.reject', 'bad.hang', 'bad.hang-batch']) {
      await publisher.publishStandalone({
        name,
        aggregateType: 'T',
        aggregateId: name,
        payload: {},
      });
    }
    expect(await drainUntilIdle(t.app)).toMatchObject({ deadLettered: 5 });
    expect(await lastErrors()).toEqual([
      '[c1] just a string',
      '[c2] Non-Error thrown: {"code":"E42"}',
      '[c3] RangeError: nope',
      '[c4] HandlerTimeoutError: Handler hangs did not finish within 100 ms (processor.handlerTimeoutMs)',
      '[c5] HandlerTimeoutError: Handler hangsInBatch did not finish within 100 ms (processor.handlerTimeoutMs)',
    ]);
  });

  it("transactional: 'per-event' and false deliver once each, marking their deliveries processed", async () => {
    const t = await boot([]);
    const registry = t.app.get(EventSubscriberRegistry);
    registry.register({
      pattern: 'vault.**',
      consumer: 'per-event',
      transactional: 'per-event',
      name: 'perEvent',
      handle: async (e, ctx) =>
        void (await (ctx.tx as PoolClient).query(EFFECT, ['per-event', e.id, null])),
    });
    registry.register({
      pattern: '**',
      consumer: 'external',
      transactional: false,
      name: 'external',
      handle: async (e, ctx) => {
        expect(ctx.tx).toBeUndefined();
        await pool.query(EFFECT, ['external', e.id, null]);
      },
    });
    const publisher = t.app.get(DomainEventPublisher);
    const ids = [
      (await publisher.publishStandalone(closed('a')))!,
      (await publisher.publishStandalone(closed('b')))!,
    ];
    await drainUntilIdle(t.app);
    const rows = (
      await pool.query(
        'select consumer, count(*)::int as n from test_effect group by consumer order by consumer',
      )
    ).rows;
    expect(rows).toEqual([
      { consumer: 'external', n: 2 },
      { consumer: 'per-event', n: 2 },
    ]);
    for (const id of ids) {
      const { deliveries } = (await t.app.get(IntegrationAdminService).findEvent(id))!;
      expect(
        [...deliveries]
          .sort((a, b) => a.consumer.localeCompare(b.consumer))
          .map((d) => [d.consumer, d.status, d.attemptCount]),
      ).toEqual([
        ['external', 'processed', 1],
        ['per-event', 'processed', 1],
      ]);
    }
    // Both modes still deliver exactly once per (event, consumer) under replays.
    for (const consumer of ['per-event', 'external']) {
      const report = await assertHandlerIdempotent(t.app, {
        event: closed('replayed'),
        consumer,
        times: 3,
        observe: async () =>
          (
            await pool.query('select count(*)::int as n from test_effect where consumer = $1', [
              consumer,
            ])
          ).rows[0].n,
      });
      expect(report.mutations).toBe(1);
    }
  });

  it('assertHandlerIdempotent fails loudly for a handler that writes outside ctx.tx and then fails', async () => {
    const t = await boot([]);
    let calls = 0;
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'vault.closed',
      consumer: 'leaky',
      name: 'leaky',
      handle: async (e) => {
        await pool.query(EFFECT, ['leaky', e.id, null]); // not through ctx.tx
        if (++calls === 1) throw new Error('crash after the external write');
      },
    });
    const error = await assertHandlerIdempotent(t.app, {
      event: closed('leak'),
      consumer: 'leaky',
      times: 3,
      observe: async () =>
        (await pool.query('select count(*)::int as n from test_effect')).rows[0].n,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerNotIdempotentError);
    expect((error as HandlerNotIdempotentError).mutations).toBe(2);
    expect((error as Error).message).toContain('Write effects through ctx.tx');
  });

  it('a link written inside a handler transaction disappears when the handler fails', async () => {
    const t = await boot([], { processor: { retry: { maxAttempts: 1 } } });
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'vault.closed',
      consumer: 'linker',
      name: 'linker',
      handle: async (e, ctx) => {
        await ctx.links.link({
          source: { module: 'a', entityType: 'A', entityId: e.id },
          target: { module: 'b', entityType: 'B', entityId: 'b1' },
          linkType: 'cascade',
        });
        expect(
          await ctx.links.findOutbound({ module: 'a', entityType: 'A', entityId: e.id }),
        ).toHaveLength(1);
        throw new Error('after linking');
      },
    });
    await t.app.get(DomainEventPublisher).publishStandalone(closed('l'));
    await drainUntilIdle(t.app);
    expect((await pool.query('select count(*)::int as n from integration_link')).rows[0].n).toBe(0);
  });

  it('a failing commit fails every event of the consumer batch, and nothing of it is kept', async () => {
    await pool.query(
      'create table if not exists test_deferred (k text, constraint test_deferred_uq unique (k) deferrable initially deferred)',
    );
    const t = await boot([], {
      processor: {
        retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None },
      },
    });
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'vault.closed',
      consumer: 'deferred',
      name: 'deferred',
      handle: async (_e, ctx) => {
        // Both events insert the same key: the violation surfaces only at COMMIT.
        await (ctx.tx as PoolClient).query("insert into test_deferred values ('same')");
      },
    });
    const publisher = t.app.get(DomainEventPublisher);
    await publisher.publishStandalone(closed('d1'));
    await publisher.publishStandalone(closed('d2'));
    expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
      claimed: 2,
      retried: 2,
    });
    const errors = await lastErrors();
    expect(errors).toHaveLength(2);
    for (const e of errors)
      expect(e).toContain(
        '[deferred] Transaction failed: error: duplicate key value violates unique constraint',
      );
    expect((await pool.query('select count(*)::int as n from test_deferred')).rows[0].n).toBe(0);
    expect(
      (
        await pool.query(
          "select count(*)::int as n from integration_delivery where status = 'processed'",
        )
      ).rows[0].n,
    ).toBe(0);
    await pool.query('drop table test_deferred');
  });

  it('assertHandlerIdempotent refuses a consumer without a matching handler', async () => {
    const t = await boot([]);
    await expect(
      assertHandlerIdempotent(t.app, {
        event: closed('none'),
        consumer: 'ghost',
        observe: () => 0,
      }),
    ).rejects.toThrow(
      'consumer "ghost": has no handler matching vault.closed; registered consumers: none',
    );
    await expect(
      assertHandlerIdempotent(t.app, {
        event: closed('none'),
        consumer: 'ghost',
        observe: () => 0,
        times: 1,
      }),
    ).rejects.toThrow(RangeError);
  });

  it('a handler timeout in batch mode defers the rest of the batch instead of settling it', async () => {
    const t = await boot([], {
      processor: {
        handlerTimeoutMs: 100,
        retry: { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None },
      },
    });
    const seen: string[] = [];
    let hang = true;
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'vault.closed',
      consumer: 'slowpoke',
      name: 'slowpoke',
      handle: async (e, ctx) => {
        seen.push(e.aggregateId);
        if (e.aggregateId === 'b' && hang) await new Promise(() => undefined);
        await (ctx.tx as PoolClient).query(EFFECT, ['slowpoke', e.id, e.aggregateId]);
      },
    });
    const publisher = t.app.get(DomainEventPublisher);
    for (const v of ['a', 'b', 'c']) await publisher.publishStandalone(closed(v));
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({
      claimed: 3,
      processed: 0,
      retried: 1,
      released: 2,
    });
    expect(seen).toEqual(['a', 'b']); // c never ran, and was not settled as processed
    expect((await pool.query('select count(*)::int as n from test_effect')).rows[0].n).toBe(0);
    hang = false;
    await drainUntilIdle(t.app);
    const notes = (await pool.query('select note from test_effect')).rows.map((r) => r.note);
    expect(notes.sort()).toEqual(['a', 'b', 'c']);
  });

  it("a consumer's own retry.maxAttempts can exceed the processor's", async () => {
    const t = await boot([], {
      processor: {
        retry: { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None },
      },
    });
    let failures = 0;
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'vault.closed',
      consumer: 'patient',
      name: 'patient',
      retry: { maxAttempts: 4, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None },
      handle: () => {
        if (++failures <= 3) throw new Error(`failure ${failures}`);
      },
    });
    await t.app.get(DomainEventPublisher).publishStandalone(closed('p'));
    expect(await drainUntilIdle(t.app)).toMatchObject({
      retried: 3,
      processed: 1,
      deadLettered: 0,
    });
  });

  it('the registry supports programmatic registration, queries and unregistering', async () => {
    const t = await boot([]);
    const registry = t.app.get(EventSubscriberRegistry);
    const handle = () => undefined;
    registry.register({ pattern: 'vault.*', consumer: 'x', name: 'h1', handle });
    registry.register({ pattern: '*.closed', consumer: 'y', name: 'h2', handle, priority: 5 });
    registry.register({ pattern: 'billing.invoice.paid', consumer: 'y', name: 'h3', handle });
    expect(registry.count).toBe(3);
    expect(registry.getConsumers()).toEqual(['x', 'y']);
    expect(registry.getEventNames()).toEqual(['vault.*', '*.closed', 'billing.invoice.paid']);
    expect(registry.getHandlers('vault.closed').map((h) => h.name)).toEqual(['h1', 'h2']);
    expect(registry.hasHandlers('vault.opened.extra')).toBe(false);
    expect(registry.hasHandlers('billing.invoice.paid')).toBe(true);
    expect(registry.getConsumerSettings('x')).toEqual({
      consumer: 'x',
      transactional: 'batch',
      concurrency: 1,
      retry: undefined,
      startFrom: 'now',
    });
    expect(registry.unregister({ consumer: 'x', name: 'h1' })).toBe(true);
    expect(registry.unregister({ consumer: 'x', name: 'h1' })).toBe(false);
    expect(registry.getHandlers('vault.closed').map((h) => h.name)).toEqual(['h2']);
    expect(() =>
      registry.register({ pattern: 'vault.*', consumer: 'y', name: 'h2', handle }),
    ).toThrow(DuplicateHandlerError);
    expect(() =>
      registry.register({ pattern: 'vault.lo*', consumer: 'y', name: 'h4', handle }),
    ).toThrow(InvalidEventPatternError);
    expect(() =>
      registry.register({ pattern: 'vault.x', consumer: 'bad name', name: 'h5', handle }),
    ).toThrow(InvalidHandlerError);
    // An explicit mode wins over the default of earlier handlers; two explicit modes must agree.
    registry.register({
      pattern: 'vault.x',
      consumer: 'y',
      name: 'h6',
      handle,
      transactional: false,
    });
    expect(registry.getConsumerSettings('y')?.transactional).toBe(false);
    expect(() =>
      registry.register({
        pattern: 'vault.x',
        consumer: 'y',
        name: 'h8',
        handle,
        transactional: 'batch',
      }),
    ).toThrow(/already uses transactional: false/);
    expect(() =>
      registry.register({
        pattern: 'vault.x',
        consumer: 'z',
        name: 'h7',
        handle,
        retry: { maxAttempts: 0 },
      }),
    ).toThrow(InvalidHandlerError);
  });

  it('InboxService.runOnce guards events from outside the outbox', async () => {
    const t = await boot([]);
    const inbox = t.app.get(InboxService);
    const run = () =>
      inbox.runOnce(
        { eventId: 'kafka:orders:0:42', consumer: 'billing', payloadHash: 'abc' },
        async (tx) => {
          await (tx as PoolClient).query(EFFECT, ['billing', 'kafka:orders:0:42', null]);
          return 'charged';
        },
      );
    expect(await run()).toEqual({ executed: true, result: 'charged' });
    expect(await run()).toEqual({ executed: false, status: InboxStatus.Processed });
    expect(await inbox.isProcessed('kafka:orders:0:42', 'billing')).toBe(true);
    expect((await pool.query('select count(*)::int as n from test_effect')).rows[0].n).toBe(1);

    await expect(
      inbox.runOnce({ eventId: 'm-2', consumer: 'billing' }, async (tx) => {
        await (tx as PoolClient).query(EFFECT, ['billing', 'm-2', null]);
        throw new Error('card declined');
      }),
    ).rejects.toThrow('card declined');
    expect(
      (await pool.query("select count(*)::int as n from test_effect where event_id = 'm-2'"))
        .rows[0].n,
    ).toBe(0);
    expect(await inbox.findByEvent('m-2')).toMatchObject([
      { status: InboxStatus.Failed, attemptCount: 1, lastError: 'Error: card declined' },
    ]);
    expect(await inbox.isProcessed('m-2', 'billing')).toBe(false);

    expect(await inbox.markSkipped('m-3', 'billing', 'not for us')).toBe(true);
    expect(await inbox.getStatus('m-3', 'billing')).toBe(InboxStatus.Skipped);
    expect(await inbox.markSkipped('kafka:orders:0:42', 'billing')).toBe(false);
    await inbox.markFailed('m-3', 'billing', 'ignored: skipped stays skipped');
    expect(await inbox.getStatus('m-3', 'billing')).toBe(InboxStatus.Skipped);

    await expect(
      inbox.runOnce({ eventId: '', consumer: 'billing' }, async () => 1),
    ).rejects.toBeInstanceOf(InvalidInboxKeyError);
    await expect(inbox.isProcessed('x\u0000', 'billing')).rejects.toBeInstanceOf(
      InvalidInboxKeyError,
    );
    await expect(inbox.isProcessed('x', 'billing', { tx: {} })).rejects.toBeInstanceOf(
      TransactionRequiredError,
    );
    await inTransaction(t.orm, async (tx) => {
      expect(await inbox.isProcessed('kafka:orders:0:42', 'billing', tx)).toBe(true);
    });
  });

  it('InboxService.runOnce runs its transaction again after a deadlock; each effect lands once', async () => {
    const t = await boot([]);
    const inbox = t.app.get(InboxService);
    await pool.query('create table test_lock (id int primary key, n int not null default 0)');
    try {
      await pool.query('insert into test_lock (id) values (1), (2)');
      // Both first attempts take their first row, then wait for each other: a deadlock.
      let arrived = 0;
      let bothIn!: () => void;
      const together = new Promise<void>((resolve) => (bothIn = resolve));
      const runs = { a: 0, b: 0 };
      const body =
        (name: 'a' | 'b', first: number, second: number) =>
        async (tx: unknown): Promise<string> => {
          const client = tx as PoolClient;
          const attempt = ++runs[name];
          await client.query('update test_lock set n = n + 1 where id = $1', [first]);
          if (attempt === 1) {
            if (++arrived === 2) bothIn();
            await together;
          }
          await client.query('update test_lock set n = n + 1 where id = $1', [second]);
          await client.query(EFFECT, [name, `lock-${name}`, null]);
          return name;
        };
      const results = await Promise.all([
        inbox.runOnce({ eventId: 'lock-a', consumer: 'locks' }, body('a', 1, 2)),
        inbox.runOnce({ eventId: 'lock-b', consumer: 'locks' }, body('b', 2, 1)),
      ]);
      expect(results).toEqual([
        { executed: true, result: 'a' },
        { executed: true, result: 'b' },
      ]);
      // PostgreSQL aborted one of them; it ran again and nothing of its first run stayed.
      expect(runs.a + runs.b).toBe(3);
      expect((await pool.query('select id, n from test_lock order by id')).rows).toEqual([
        { id: 1, n: 2 },
        { id: 2, n: 2 },
      ]);
      expect((await pool.query('select count(*)::int as n from test_effect')).rows[0].n).toBe(2);
      for (const id of ['lock-a', 'lock-b']) {
        expect(await inbox.findByEvent(id)).toMatchObject([
          { status: InboxStatus.Processed, lastError: null },
        ]);
      }
    } finally {
      await pool.query('drop table test_lock');
    }
  });

  it('concurrent deliveries of one event to one consumer run the handler once', async () => {
    const t = await boot([]);
    let runs = 0;
    t.app.get(EventSubscriberRegistry).register({
      pattern: 'vault.closed',
      consumer: 'once',
      name: 'once',
      handle: async (e, ctx) => {
        runs++;
        await (ctx.tx as PoolClient).query(EFFECT, ['once', e.id, null]);
        await new Promise((r) => setTimeout(r, 50));
      },
    });
    const id = (await t.app.get(DomainEventPublisher).publishStandalone(closed('c')))!;
    const processor = t.app.get(OutboxProcessor);
    const results = await Promise.all([1, 2, 3].map(() => processor.deliverNow(id, 'once')));
    expect((await pool.query('select count(*)::int as n from test_effect')).rows[0].n).toBe(1);
    expect(runs).toBe(1);
    expect(results.filter((r) => r.kind === 'ran')).toHaveLength(1);
    expect(results.filter((r) => r.kind === 'not-taken')).toHaveLength(2);
  });
});

describe('bootstrap fails clearly on bad handlers', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  const bootstrap = async (providers: Provider[]): Promise<unknown> => {
    const orm = createOrm('pg', db.url);
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

  it('a duplicate (consumer, method)', async () => {
    @Injectable()
    class Twice {
      @OnIntegrationEvent('vault.opened', { consumer: 'dup' })
      @OnIntegrationEvent('vault.closed', { consumer: 'dup' })
      handle() {}
    }
    const error = await bootstrap([Twice]);
    expect(error).toBeInstanceOf(DuplicateHandlerError);
    expect((error as Error).message).toContain(
      'Handler Twice.handle is registered twice for consumer "dup"',
    );
  });

  it('the same class provided twice', async () => {
    @Injectable()
    class Notifier {
      @OnIntegrationEvent('vault.opened', { consumer: 'n' })
      handle() {}
    }
    expect(await bootstrap([Notifier, { provide: 'again', useClass: Notifier }])).toBeInstanceOf(
      DuplicateHandlerError,
    );
  });

  it('a malformed pattern', async () => {
    @Injectable()
    class BadPattern {
      @OnIntegrationEvent('Vault.*opened', { consumer: 'x' })
      handle() {}
    }
    const error = await bootstrap([BadPattern]);
    expect(error).toBeInstanceOf(InvalidEventPatternError);
    expect((error as Error).message).toContain('BadPattern.handle');
  });

  it('a handler on a request-scoped provider', async () => {
    @Injectable({ scope: Scope.REQUEST })
    class PerRequest {
      @OnIntegrationEvent('vault.opened', { consumer: 'r' })
      handle() {}
    }
    expect(await bootstrap([PerRequest])).toBeInstanceOf(RequestScopedHandlerError);
  });

  it('a good app boots and discovers its handlers', async () => {
    @Injectable()
    class Good {
      @OnIntegrationEvent('vault.opened', { consumer: 'good' })
      handle() {}
    }
    expect(await bootstrap([Good])).toBeUndefined();
  });
});
