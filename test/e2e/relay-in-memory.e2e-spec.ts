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
  /** Keys whose handler fails until their attempt reaches this number. */
  failUntil = new Map<string, number>();
  /** Keys whose handler waits for the gate to open (before writing). */
  gates = new Map<string, Promise<void>>();
  /** Handlers running now, and the most at once. */
  running = 0;
  maxRunning = 0;
  /** `key:n` in the order handlers started. */
  started: string[] = [];
  /** Per event id, its first successful handling, with what its handler saw of the context. */
  handled = new Map<
    string,
    { event: IntegrationEvent; attempt: number; consumer: string; context: unknown }
  >();

  /** Set by a test to record the context the handler runs in. */
  context?: IntegrationContext;

  @OnIntegrationEvent('thing.*')
  async onThing(
    event: IntegrationEvent<{ key: string; n: number }>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    this.started.push(`${event.payload.key}:${event.payload.n}`);
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      await this.gates.get(event.payload.key);
      // Other messages get the event loop meanwhile: concurrent handlers overlap here.
      await new Promise((resolve) => setTimeout(resolve, 2));
      if (this.failing.has(event.payload.key)) throw new Error(`refusing ${event.payload.key}`);
      if (ctx.attempt < (this.failUntil.get(event.payload.key) ?? 0))
        throw new Error(`not yet ${event.payload.key}`);
      await ctx.tx.query(EFFECT, [event.id, event.payload.key, event.payload.n]);
    } finally {
      this.running--;
    }
    if (!this.handled.has(event.id))
      this.handled.set(event.id, {
        event,
        attempt: ctx.attempt,
        consumer: ctx.consumer,
        context: this.context?.current(),
      });
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

  async function relayingApp(
    transport: InMemoryTransport,
    retry = noRetryDelay,
    concurrency?: number,
  ) {
    const t = await createIntegrationApp(source.url, {
      integration: { processor: { retry, batchSize: 200 } },
      metadata: {
        imports: [
          IntegrationRelayModule.forRoot({
            consumer: 'broker-relay',
            events: ['thing.*'],
            transport,
            ...(concurrency ? { concurrency } : {}),
          }),
        ],
      },
    });
    apps.push(t);
    return t;
  }

  async function consumingApp(
    transport: InMemoryTransport,
    projection = new Projection(),
    concurrency?: number,
  ) {
    const t = await createIntegrationApp(sink.url, {
      metadata: {
        imports: [
          IntegrationInboundModule.forRoot({
            transport,
            consumers: ['projection'],
            retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 },
            concurrency,
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

    // Publishes of different keys overlap (the relay's lanes); each key's are in publish order.
    const keyOf = (i: number) => `8:tenant-a:Thing:k${i % 7}`;
    for (let k = 0; k < 7; k++) {
      expect(outbound.messages.filter((m) => m.key === keyOf(k)).map((m) => m.id)).toEqual(
        ids.filter((_, i) => i % 7 === k),
      );
    }
    expect(outbound.messages).toHaveLength(300);
    const first = outbound.messages.find((m) => m.id === ids[0])!;
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
    // The handler on the other side sees the event as published, in its context. (Keys are
    // relayed side by side: the first event published need not be the first one handled.)
    expect(projection.handled.get(ids[0]!)).toMatchObject({
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

  it('has up to `concurrency` publishes in flight, never two of one key (#relay-concurrency)', async () => {
    /** A broker whose acknowledgements take a few milliseconds. */
    class SlowAcks extends InMemoryTransport {
      inFlight = new Map<string, number>();
      most = 0;
      mostOfOneKey = 0;
      override async publish(message: Parameters<InMemoryTransport['publish']>[0]) {
        const ofKey = (this.inFlight.get(message.key) ?? 0) + 1;
        this.inFlight.set(message.key, ofKey);
        this.mostOfOneKey = Math.max(this.mostOfOneKey, ofKey);
        this.most = Math.max(
          this.most,
          [...this.inFlight.values()].reduce((a, b) => a + b, 0),
        );
        try {
          await new Promise((resolve) => setTimeout(resolve, 3));
          await super.publish(message);
        } finally {
          this.inFlight.set(message.key, this.inFlight.get(message.key)! - 1);
        }
      }
    }
    const outbound = new SlowAcks();
    const producer = await relayingApp(outbound, noRetryDelay, 3);
    const ids = await publishAll(
      producer,
      Array.from({ length: 40 }, (_, i) => thingEvent('thing.made', `k${i % 8}`, { n: i })),
    );
    await producer.app.get(OutboxProcessor).drain();
    expect(outbound.most).toBe(3);
    expect(outbound.mostOfOneKey).toBe(1);
    for (let k = 0; k < 8; k++) {
      expect(outbound.messages.filter((m) => m.key.endsWith(`:k${k}`)).map((m) => m.id)).toEqual(
        ids.filter((_, i) => i % 8 === k),
      );
    }
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
    // Different keys: the good message does not wait for the bad one's retries.
    await waitFor(async () => (await effects()).length === 1, 10_000, 'the good effect');
    await waitFor(() => transport.deadLetters.length === 1, 10_000, 'the dead letter');
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

  /** A gate a test opens by hand. */
  function gate(): { opened: Promise<void>; open: () => void } {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { opened, open };
  }

  it("handles other keys while one key's handler is blocked; that key's later messages wait for it (#inbound-concurrency)", async () => {
    const transport = new InMemoryTransport();
    await transport.connect();
    const projection = new Projection();
    const slow = gate();
    projection.gates.set('slow', slow.opened);
    await consumingApp(transport, projection, 4);
    await transport.publish(toOutgoingMessage(event('thing.made', 'slow', 1)));
    await transport.publish(toOutgoingMessage(event('thing.made', 'slow', 2)));
    for (let n = 1; n <= 6; n++)
      await transport.publish(toOutgoingMessage(event('thing.made', `fast${n % 3}`, n)));
    // Without per-key concurrency the blocked handler would hold every message behind it.
    await waitFor(async () => (await effects()).length === 6, 10_000, "the other keys' effects");
    expect(projection.started.filter((s) => s.startsWith('slow'))).toEqual(['slow:1']);
    slow.open();
    await waitFor(async () => (await effects()).length === 8, 10_000, "the slow key's effects");
    const rows = await effects();
    expect(rows.filter((r) => r.key === 'slow').map((r) => r.n)).toEqual([1, 2]);
    expect(projection.maxRunning).toBeGreaterThan(1);
    expect(projection.maxRunning).toBeLessThanOrEqual(4);
  });

  it("keeps each key's order under concurrency, a failing message holding its key while it is retried, within the concurrency bound (#inbound-key-order)", async () => {
    const transport = new InMemoryTransport({ window: 32 });
    await transport.connect();
    const projection = new Projection();
    // k0's and k3's first messages fail twice before they pass (retried in place, attempt 3).
    projection.failUntil.set('k0', 3);
    await consumingApp(transport, projection, 3);
    const KEYS = 6;
    const published: IntegrationEvent[] = [];
    for (let n = 0; n < 120; n++) {
      const e = event('thing.made', `k${n % KEYS}`, n);
      published.push(e);
      await transport.publish(toOutgoingMessage(e));
    }
    await waitFor(async () => (await effects()).length === 120, 20_000, '120 effects');
    const rows = await effects();
    for (let k = 0; k < KEYS; k++) {
      const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
      expect(ns).toEqual([...ns].sort((a, b) => a - b));
      expect(ns).toHaveLength(120 / KEYS);
    }
    // Handlers of one key never overlapped: each key's starts are in publish order, and k0's
    // first message started three times before the next k0 message.
    const k0 = projection.started.filter((s) => s.startsWith('k0:'));
    expect(k0.slice(0, 4)).toEqual(['k0:0', 'k0:0', 'k0:0', 'k0:6']);
    expect(projection.maxRunning).toBeGreaterThan(1);
    expect(projection.maxRunning).toBeLessThanOrEqual(3);
    expect(transport.maxInHand).toBeLessThanOrEqual(32);
    expect(transport.deadLetters).toHaveLength(0);
  });

  it('on close, waits for the running handler, and gives the messages not started back (#inbound-stop)', async () => {
    const transport = new InMemoryTransport();
    await transport.connect();
    const projection = new Projection();
    const slow = gate();
    projection.gates.set('slow', slow.opened);
    const consumer = await consumingApp(transport, projection, 2);
    await transport.publish(toOutgoingMessage(event('thing.made', 'slow', 1)));
    await transport.publish(toOutgoingMessage(event('thing.made', 'slow', 2)));
    await waitFor(() => projection.running === 1, 10_000, 'the slow handler running');
    const service = consumer.app.get(IntegrationInbound);
    expect(service.inHand).toBe(2);
    let closed = false;
    const closing = consumer.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false);
    slow.open();
    await closing;
    expect(service.state).toBe(InboundState.Stopped);
    expect(service.inHand).toBe(0);
    // The running message committed; the one behind it was given back, not run.
    expect((await effects()).map((r) => r.n)).toEqual([1]);
    expect(projection.started).toEqual(['slow:1']);
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
              concurrency: 0,
            }),
          ],
        },
      }),
    ).rejects.toThrow(
      /lacks subscribe, close[\s\S]*consumers must name[\s\S]*maxAttempts[\s\S]*concurrency must be a positive integer/,
    );
    await expect(
      createIntegrationApp(source.url, {
        metadata: {
          imports: [
            IntegrationRelayModule.forRoot({
              consumer: '1 bad',
              events: ['Not A Pattern'],
              transport: {} as InMemoryTransport,
              concurrency: 0,
            }),
          ],
        },
      }),
    ).rejects.toThrow(
      /consumer must be a name[\s\S]*not an event pattern[\s\S]*lacks connect, publish, close[\s\S]*concurrency must be an integer from 1 to 1000/,
    );
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
