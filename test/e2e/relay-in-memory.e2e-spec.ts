import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import {
  INTEGRATION_HEADERS,
  InMemoryTransport,
  InboundState,
  IntegrationContext,
  IntegrationConsumer,
  IntegrationInbound,
  IntegrationRelay,
  IntegrationInboundModule,
  IntegrationRelayModule,
  InvalidTransportOptionsError,
  OnIntegrationEvent,
  OutboxProcessor,
  toOutgoingMessage,
  type HandlerContext,
  type IncomingMessage,
  type IntegrationEvent,
} from '../../src/integration';
import { noRetryDelay, thingEvent } from '../support/effect-fixture';
import {
  createIntegrationApp,
  publishAll,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const EFFECT = 'insert into rim_effect (event_id, key, n) values ($1, $2, $3)';

/** The consuming app's projection: one row per event, written in the handler's transaction. */
@Injectable()
@IntegrationConsumer('projection')
class Projection {
  failing = new Set<string>();
  /** The first event handled, with what its handler saw of the context. */
  first?: { event: IntegrationEvent; attempt: number; consumer: string; context: unknown };

  /** Set by a test to record the context the handler runs in. */
  context?: IntegrationContext;

  @OnIntegrationEvent('thing.*')
  async onThing(
    event: IntegrationEvent<{ key: string; n: number }>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    if (this.failing.has(event.payload.key)) throw new Error(`refusing ${event.payload.key}`);
    await ctx.tx.query(EFFECT, [event.id, event.payload.key, event.payload.n]);
    this.first ??= {
      event,
      attempt: ctx.attempt,
      consumer: ctx.consumer,
      context: this.context?.current(),
    };
  }
}

describe('relay and inbound through a transport (issue 17, in memory)', () => {
  let source: TestDatabase;
  let sink: TestDatabase;
  const apps: IntegrationTestApp[] = [];

  beforeAll(async () => {
    [source, sink] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    await withPool(sink.url, (pool) =>
      pool.query(
        'create table rim_effect (seq serial primary key, event_id text unique not null, key text not null, n int not null)',
      ),
    );
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await withPool(source.url, (pool) =>
      pool.query(
        'truncate outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
      ),
    );
    await withPool(sink.url, (pool) => pool.query('truncate rim_effect, inbox_event'));
  });
  afterAll(async () => {
    await source?.drop();
    await sink?.drop();
  });

  async function relayingApp(transport: InMemoryTransport, retry = noRetryDelay) {
    const t = await createIntegrationApp(source.url, {
      integration: { processor: { retry, batchSize: 200 } },
      metadata: {
        imports: [
          IntegrationRelayModule.forRoot({
            consumer: 'broker-relay',
            events: ['thing.*'],
            transport,
          }),
        ],
      },
    });
    apps.push(t);
    return t;
  }

  async function consumingApp(transport: InMemoryTransport, projection = new Projection()) {
    const t = await createIntegrationApp(sink.url, {
      metadata: {
        imports: [
          IntegrationInboundModule.forRoot({
            transport,
            consumers: ['projection'],
            retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 },
          }),
        ],
        providers: [{ provide: Projection, useValue: projection }],
      },
    });
    apps.push(t);
    return t;
  }

  const effects = () =>
    withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; key: string; n: number }>(
        'select event_id, key, n from rim_effect order by seq',
      );
      return rows;
    });

  it('relays outbox events as acknowledged messages and applies each exactly once, in key order, on the other side (#relay #inbound)', async () => {
    const outbound = new InMemoryTransport();
    const inbound = new InMemoryTransport();
    const producer = await relayingApp(outbound);
    const projection = new Projection();
    const consumer = await consumingApp(inbound, projection);
    projection.context = consumer.app.get(IntegrationContext);
    // Two brokers in memory stand for one: forward what the relay stored, twice (a redelivery).
    const events = Array.from({ length: 300 }, (_, i) => ({
      ...thingEvent(i % 2 ? 'thing.moved' : 'thing.made', `k${i % 7}`, { key: `k${i % 7}`, n: i }),
      correlationId: 'corr-1',
      tenantId: 'tenant-a',
      headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    }));
    const ids = await publishAll(producer, events);
    await producer.app.get(OutboxProcessor).drain();

    expect(outbound.messages.map((m) => m.id)).toEqual(ids);
    const first = outbound.messages[0]!;
    expect(first.name).toBe('thing.made');
    expect(first.key).toBe('8:tenant-a:Thing:k0');
    expect(first.headers).toMatchObject({
      [INTEGRATION_HEADERS.eventName]: 'thing.made',
      [INTEGRATION_HEADERS.correlationId]: 'corr-1',
      [INTEGRATION_HEADERS.tenantId]: 'tenant-a',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(JSON.parse(first.payload)).toEqual({ key: 'k0', n: 0 });

    for (const m of [...outbound.messages, ...outbound.messages]) await inbound.publish(m);
    // The in-memory broker dropped the duplicate ids: deliver one again by hand to the inbound.
    const service = consumer.app.get(IntegrationInbound);
    await waitFor(async () => (await effects()).length === 300, 20_000, '300 effects');
    const settled: string[] = [];
    await service.handle(incoming(outbound.messages[5]!, 2, settled));
    expect(settled).toEqual(['ack']);

    const rows = await effects();
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    // The handler on the other side sees the event as published, in its context.
    expect(projection.first).toMatchObject({
      attempt: 1,
      consumer: 'projection',
      event: {
        id: ids[0],
        name: 'thing.made',
        aggregateType: 'Thing',
        aggregateId: 'k0',
        orderingKey: '8:tenant-a:Thing:k0',
        payload: { key: 'k0', n: 0 },
        tenantId: 'tenant-a',
        correlationId: 'corr-1',
        headers: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
      },
      context: { tenantId: 'tenant-a', correlationId: 'corr-1', causationId: ids[0] },
    });
    for (let k = 0; k < 7; k++) {
      const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
    }
    await withPool(source.url, async (pool) => {
      const { rows: d } = await pool.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from integration_delivery where consumer_name = 'broker-relay' group by status`,
      );
      expect(d).toEqual([{ status: 'processed', n: 300 }]);
    });
  });

  it('retries a publish the broker did not acknowledge, with the consumer backoff, then dead-letters it (#relay-retry)', async () => {
    const outbound = new InMemoryTransport();
    let refusals = 2;
    outbound.failPublish = (m) =>
      m.key.endsWith('broken')
        ? new Error('broker down')
        : refusals-- > 0
          ? new Error('no ack')
          : undefined;
    const producer = await relayingApp(outbound, { ...noRetryDelay, maxAttempts: 3 });
    const [ok, broken] = await publishAll(producer, [
      thingEvent('thing.made', 'fine'),
      thingEvent('thing.made', 'broken'),
    ]);
    await producer.app.get(OutboxProcessor).drain();
    expect(outbound.messages.map((m) => m.id)).toEqual([ok]);
    await withPool(source.url, async (pool) => {
      const { rows } = await pool.query<{
        event_id: string;
        status: string;
        attempt_count: number;
        last_error: string;
      }>(
        `select event_id, status, attempt_count, last_error from integration_delivery where consumer_name = 'broker-relay' order by position`,
      );
      expect(rows).toEqual([
        expect.objectContaining({ event_id: ok, status: 'processed' }),
        expect.objectContaining({
          event_id: broken,
          status: 'dead_letter',
          attempt_count: 3,
          last_error: expect.stringContaining('broker down'),
        }),
      ]);
    });
  });

  it('moves a message its handler always fails to the dead letters with its headers and error, after the configured deliveries (#inbound-dead-letter)', async () => {
    const transport = new InMemoryTransport();
    await transport.connect();
    const projection = new Projection();
    projection.failing.add('bad');
    await consumingApp(transport, projection);
    const good = event('thing.made', 'good', 1);
    const bad = event('thing.made', 'bad', 2);
    await transport.publish(toOutgoingMessage(bad));
    await transport.publish(toOutgoingMessage(good));
    await waitFor(async () => (await effects()).length === 1, 10_000, 'the good effect');
    expect(transport.deadLetters).toHaveLength(1);
    const dead = transport.deadLetters[0]!;
    expect(dead.id).toBe(bad.id);
    expect(dead.deliveryCount).toBe(3);
    expect(dead.error).toContain('refusing bad');
    expect(dead.headers).toMatchObject({
      [INTEGRATION_HEADERS.eventName]: 'thing.made',
      [INTEGRATION_HEADERS.error]: expect.stringContaining('refusing bad'),
      [INTEGRATION_HEADERS.deliveries]: '3',
      correlationId: 'c-bad',
    });
    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{
        event_id: string;
        status: string;
        attempt_count: number;
      }>(
        `select event_id, status, attempt_count from inbox_event where consumer_name = 'projection' order by event_id`,
      );
      expect(rows).toEqual(
        expect.arrayContaining([
          { event_id: bad.id, status: 'failed', attempt_count: 3 },
          { event_id: good.id, status: 'processed', attempt_count: expect.any(Number) },
        ]),
      );
    });
  });

  it('dead-letters a message that is not an integration event at once', async () => {
    const transport = new InMemoryTransport();
    await consumingApp(transport);
    const settled: string[] = [];
    const service = apps[0]!.app.get(IntegrationInbound);
    await service.handle({
      ...incoming(toOutgoingMessage(event('thing.made', 'x', 1)), 1, settled),
      headers: {},
    });
    expect(settled).toEqual([expect.stringContaining('has no integration-event-name header')]);
  });

  it('takes its options from a factory (forRootAsync), like IntegrationModule', async () => {
    const outbound = new InMemoryTransport();
    const inbound = new InMemoryTransport();
    const producer = await createIntegrationApp(source.url, {
      integration: { processor: { retry: noRetryDelay } },
      metadata: {
        imports: [
          IntegrationRelayModule.forRootAsync({
            useFactory: async () => ({ consumer: 'async-relay', transport: outbound }),
          }),
        ],
      },
    });
    apps.push(producer);
    const consumer = await createIntegrationApp(sink.url, {
      metadata: {
        imports: [
          IntegrationInboundModule.forRootAsync({
            useFactory: () => ({ transport: inbound, consumers: ['projection'] }),
          }),
        ],
        providers: [Projection],
      },
    });
    apps.push(consumer);
    expect(producer.app.get(IntegrationRelay).consumer).toBe('async-relay');
    expect(consumer.app.get(IntegrationInbound).state).toBe(InboundState.Running);
    const [id] = await publishAll(producer, [thingEvent('thing.made', 'a', { key: 'a', n: 1 })]);
    await producer.app.get(OutboxProcessor).drain();
    await inbound.publish(outbound.messages[0]!);
    await waitFor(async () => (await effects()).length === 1, 10_000, 'the effect');
    expect((await effects())[0]!.event_id).toBe(id);
    await consumer.close();
    expect(consumer.app.get(IntegrationInbound).state).toBe(InboundState.Stopped);
  });

  it('refuses invalid options with a typed error that says how to fix them', async () => {
    expect(() => IntegrationRelayModule.forRoot(undefined as never)).toThrow(
      InvalidTransportOptionsError,
    );
    expect(() => IntegrationInboundModule.forRoot(null as never)).toThrow(
      InvalidTransportOptionsError,
    );
    await expect(
      createIntegrationApp(sink.url, {
        metadata: {
          imports: [
            IntegrationInboundModule.forRoot({
              transport: { name: 'x', connect: async () => undefined } as never,
              consumers: [],
              retry: { maxAttempts: 0 },
            }),
          ],
        },
      }),
    ).rejects.toThrow(/lacks subscribe, close[\s\S]*consumers must name[\s\S]*maxAttempts/);
    await expect(
      createIntegrationApp(source.url, {
        metadata: {
          imports: [
            IntegrationRelayModule.forRoot({
              consumer: '1 bad',
              events: ['Not A Pattern'],
              transport: {} as InMemoryTransport,
            }),
          ],
        },
      }),
    ).rejects.toThrow(InvalidTransportOptionsError);
    await expect(
      createIntegrationApp(sink.url, {
        metadata: {
          imports: [
            IntegrationInboundModule.forRoot({
              transport: new InMemoryTransport(),
              consumers: ['nobody'],
            }),
          ],
        },
      }),
    ).rejects.toThrow(/consumers "nobody" are not registered/);
  });
});

let counter = 0;
function event(name: string, key: string, n: number): IntegrationEvent {
  counter++;
  return {
    id: `0190c6a2-0000-7000-8000-${String(counter).padStart(12, '0')}`,
    seq: String(counter),
    name,
    version: 1,
    sourceModule: 'test',
    aggregateType: 'Thing',
    aggregateId: key,
    orderingKey: `Thing:${key}`,
    payload: { key, n },
    headers: { correlationId: `c-${key}` },
    tenantId: null,
    correlationId: `c-${key}`,
    causationId: null,
    idempotencyKey: null,
    createdAt: new Date(),
  };
}

/** An incoming message for `IntegrationInbound.handle`, recording how it was settled. */
function incoming(
  m: { id: string; name: string; headers: Readonly<Record<string, string>>; payload: string },
  deliveryCount: number,
  settled: string[],
): IncomingMessage {
  return {
    id: m.id,
    subject: m.name,
    headers: m.headers,
    payload: m.payload,
    deliveryCount,
    ack: async () => void settled.push('ack'),
    retry: async (delay) => void settled.push(`retry ${delay}`),
    deadLetter: async (error) => void settled.push(`dead ${error}`),
  };
}
