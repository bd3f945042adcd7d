import { Injectable } from '@nestjs/common';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { PoolClient } from 'pg';
import { connect, type Channel, type ChannelModel } from 'amqplib';
import {
  INTEGRATION_HEADERS,
  IntegrationConsumer,
  IntegrationInboundModule,
  IntegrationRelayModule,
  JitterMode,
  OnIntegrationEvent,
  type HandlerContext,
  type IntegrationEvent,
  type IntegrationModuleOptions,
} from 'nestjs-integration';
import { RabbitMqTransport, rabbitMqTransport } from 'nestjs-integration/rabbitmq';
import {
  RABBITMQ_URL,
  requireBroker,
  startBrokerProxy,
  type BrokerProxy,
} from '../support/brokers';
import { expectTraceThroughBroker, TRACED_KEY } from '../support/broker-tracing';
import { thingEvent } from '../support/effect-fixture';
import {
  createIntegrationApp,
  publishAll,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor, waitForDrained } from '../support/wait-for';

const EFFECT = 'insert into rr_effect (event_id, key, n) values ($1, $2, $3)';

/** The consuming app's projection: one row per event, in the handler's transaction. */
@Injectable()
@IntegrationConsumer('projection')
class Projection {
  readonly failing = new Set<string>();
  /** Keys whose first delivery fails (the broker's redelivery then succeeds). */
  readonly failingOnce = new Set<string>();

  @OnIntegrationEvent('thing.*')
  async onThing(
    event: IntegrationEvent<{ key: string; n: number }>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    if (this.failing.has(event.payload.key)) throw new Error(`refusing ${event.payload.key}`);
    if (ctx.attempt === 1 && this.failingOnce.has(event.payload.key))
      throw new Error(`not yet ${event.payload.key}`);
    await ctx.tx.query(EFFECT, [event.id, event.payload.key, event.payload.n]);
  }
}

describe('relay and inbound through RabbitMQ (issue 17)', () => {
  let source: TestDatabase;
  let sink: TestDatabase;
  let amqp: ChannelModel;
  let admin: Channel;
  const apps: IntegrationTestApp[] = [];
  const proxies: BrokerProxy[] = [];
  const queues: string[] = [];
  const exchanges: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await requireBroker('RabbitMQ', RABBITMQ_URL);
    amqp = await connect(RABBITMQ_URL);
    admin = await amqp.createChannel();
    [source, sink] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    // No unique key on purpose: a duplicate effect must show up as a second row.
    await withPool(sink.url, (pool) =>
      pool.query(
        'create table rr_effect (seq serial primary key, event_id text not null, key text not null, n int not null)',
      ),
    );
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await kill(child, 'SIGTERM');
    while (apps.length) await apps.pop()!.close();
    while (proxies.length) await proxies.pop()!.close();
    while (queues.length) await admin.deleteQueue(queues.pop()!).catch(() => undefined);
    while (exchanges.length) await admin.deleteExchange(exchanges.pop()!).catch(() => undefined);
    await withPool(source.url, (pool) =>
      pool.query(
        'truncate outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
      ),
    );
    await withPool(sink.url, (pool) => pool.query('truncate rr_effect, inbox_event'));
  });
  afterAll(async () => {
    await amqp?.close();
    await source?.drop();
    await sink?.drop();
  });

  /** Fresh exchange and queue names for one test. */
  function names() {
    const tag = randomBytes(4).toString('hex');
    const exchange = `ni.test.${tag}`;
    const queue = `ni.projection.${tag}`;
    exchanges.push(exchange);
    queues.push(queue, `${queue}.dead-letter`);
    return { exchange, queue, deadLetters: `${queue}.dead-letter` };
  }

  function transport(n: ReturnType<typeof names>, url: string, inbound = false): RabbitMqTransport {
    return rabbitMqTransport({
      url,
      exchange: n.exchange,
      ...(inbound ? { inbound: { queue: n.queue, bindings: ['thing.*'] } } : {}),
    });
  }

  async function relayingApp(
    t: RabbitMqTransport,
    integration: Partial<IntegrationModuleOptions> = {},
  ) {
    const app = await createIntegrationApp(source.url, {
      integration: {
        ...integration,
        processor: {
          enabled: true,
          batchSize: 500,
          idlePollIntervalMs: 100,
          retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 500, jitter: JitterMode.Full },
        },
      },
      metadata: {
        imports: [
          IntegrationRelayModule.forRoot({
            consumer: 'rabbitmq-relay',
            events: ['thing.*'],
            transport: t,
          }),
        ],
      },
    });
    apps.push(app);
    return app;
  }

  async function consumingApp(
    t: RabbitMqTransport,
    projection = new Projection(),
    integration: Partial<IntegrationModuleOptions> = {},
  ) {
    const app = await createIntegrationApp(sink.url, {
      integration,
      metadata: {
        imports: [
          IntegrationInboundModule.forRoot({
            transport: t,
            consumers: ['projection'],
            retry: { maxAttempts: 3, baseDelayMs: 50, maxDelayMs: 100, jitter: JitterMode.None },
          }),
        ],
        providers: [{ provide: Projection, useValue: projection }],
      },
    });
    apps.push(app);
    return app;
  }

  const effectCount = () =>
    withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from rr_effect');
      return rows[0]!.n;
    });

  async function expectExactlyOnceInOrder(ids: readonly string[], keys: number): Promise<void> {
    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; key: string; n: number }>(
        'select event_id, key, n from rr_effect order by seq',
      );
      expect(rows).toHaveLength(ids.length);
      expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
      for (let k = 0; k < keys; k++) {
        const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
    });
  }

  it('3,000 events: every effect exactly once in the consumer database and per-key order, across broker connection cuts (#rabbitmq-exactly-once)', async () => {
    const n = names();
    const proxy = await startBrokerProxy(RABBITMQ_URL);
    proxies.push(proxy);
    // The consuming app declares the queue and its bindings before anything is published.
    await consumingApp(transport(n, proxy.url, true));
    const producer = await relayingApp(transport(n, proxy.url));
    const started = Date.now();
    const TOTAL = 3_000;
    const KEYS = 40;
    const ids: string[] = [];
    for (let chunk = 0; chunk < TOTAL / 500; chunk++) {
      const events = Array.from({ length: 500 }, (_, j) => {
        const i = chunk * 500 + j;
        return thingEvent(i % 3 ? 'thing.moved' : 'thing.made', `k${i % KEYS}`, {
          key: `k${i % KEYS}`,
          n: i,
        });
      });
      ids.push(...(await publishAll(producer, events)));
      if (chunk === 1 || chunk === 3) {
        await waitFor(
          async () => (await effectCount()) > chunk * 400,
          60_000,
          'progress before the cut',
        );
        expect(proxy.cut()).toBeGreaterThan(0);
      }
    }
    await waitForDrained(
      async () => TOTAL - (await effectCount()),
      30_000,
      'effects in the consumer database',
    );
    process.stderr.write(
      `rabbitmq: ${TOTAL} events relayed and applied in ${Date.now() - started} ms\n`,
    );
    await expectExactlyOnceInOrder(ids, KEYS);
    expect(proxy.connections).toBeGreaterThan(2);
  });

  it('the relaying app SIGKILLed twice mid-stream and its connection cut once: every effect exactly once, per-key order (#rabbitmq-sigkill)', async () => {
    const n = names();
    const proxy = await startBrokerProxy(RABBITMQ_URL);
    proxies.push(proxy);
    await consumingApp(transport(n, RABBITMQ_URL, true));
    const relay = () =>
      startRelayChild({
        DATABASE_URL: source.url,
        RELAY_BROKER: 'rabbitmq',
        RABBITMQ_URL: proxy.url,
        RELAY_EXCHANGE: n.exchange,
      });
    let child = await relay();
    await waitFor(
      () =>
        withPool(source.url, async (pool) => {
          const { rows } = await pool.query(
            `select 1 from integration_consumer where name = 'broker-relay'`,
          );
          return rows.length === 1;
        }),
      30_000,
      'the relay consumer announced',
    );
    const publisher = await createIntegrationApp(source.url);
    apps.push(publisher);
    const TOTAL = 3_000;
    const KEYS = 30;
    const ids: string[] = [];
    for (let chunk = 0; chunk < TOTAL / 500; chunk++) {
      const events = Array.from({ length: 500 }, (_, j) => {
        const i = chunk * 500 + j;
        return thingEvent('thing.made', `k${i % KEYS}`, { key: `k${i % KEYS}`, n: i });
      });
      ids.push(...(await publishAll(publisher, events)));
    }
    const relayed = () =>
      withPool(source.url, async (pool) => {
        const { rows } = await pool.query<{ n: number }>(
          `select count(*)::int as n from integration_delivery where status = 'processed'`,
        );
        return rows[0]!.n;
      });
    await waitFor(async () => (await relayed()) >= 600, 60_000, '600 relayed');
    await kill(child, 'SIGKILL');
    child = await relay();
    await waitFor(async () => (await relayed()) >= 1_500, 60_000, '1,500 relayed');
    expect(proxy.cut()).toBeGreaterThan(0);
    await waitFor(async () => (await relayed()) >= 2_200, 60_000, '2,200 relayed');
    await kill(child, 'SIGKILL');
    await relay(); // stopped by afterEach

    await waitForDrained(
      async () => TOTAL - (await effectCount()),
      30_000,
      'effects in the consumer database',
    );
    await expectExactlyOnceInOrder(ids, KEYS);
  });

  it('the consuming app SIGKILLed mid-stream and restarted: every effect exactly once, per-key order (#rabbitmq-consumer-sigkill)', async () => {
    const n = names();
    const consumer = () =>
      startChild('consumer-child', {
        DATABASE_URL: sink.url,
        EFFECT_TABLE: 'rr_effect',
        RELAY_BROKER: 'rabbitmq',
        RABBITMQ_URL,
        RELAY_EXCHANGE: n.exchange,
        INBOUND_QUEUE: n.queue,
      });
    // The consumer child declares the queue and its bindings before anything is published.
    let child = await consumer();
    const producer = await relayingApp(transport(n, RABBITMQ_URL));
    const TOTAL = 2_000;
    const KEYS = 25;
    const ids: string[] = [];
    for (let chunk = 0; chunk < TOTAL / 500; chunk++) {
      const events = Array.from({ length: 500 }, (_, j) => {
        const i = chunk * 500 + j;
        return thingEvent('thing.made', `k${i % KEYS}`, { key: `k${i % KEYS}`, n: i });
      });
      ids.push(...(await publishAll(producer, events)));
    }
    await waitFor(async () => (await effectCount()) >= 700, 60_000, '700 effects');
    await kill(child, 'SIGKILL');
    child = await consumer();
    await waitForDrained(
      async () => TOTAL - (await effectCount()),
      30_000,
      'effects in the consumer database',
    );
    await expectExactlyOnceInOrder(ids, KEYS);
    await kill(child, 'SIGTERM');
  });

  it('a message whose handler always fails ends in the dead-letter queue with its headers and error; replaying it works (#rabbitmq-dead-letter)', async () => {
    const n = names();
    const projection = new Projection();
    projection.failing.add('poison');
    await consumingApp(transport(n, RABBITMQ_URL, true), projection);
    await relayingApp(transport(n, RABBITMQ_URL));
    const [good1, bad, good2] = await publishAll(apps[1]!, [
      {
        ...thingEvent('thing.made', 'fine', { key: 'fine', n: 1 }),
        correlationId: 'corr-x',
        tenantId: 't1',
      },
      {
        ...thingEvent('thing.made', 'poison', { key: 'poison', n: 2 }),
        correlationId: 'corr-x',
        tenantId: 't1',
      },
      {
        ...thingEvent('thing.made', 'fine', { key: 'fine', n: 3 }),
        correlationId: 'corr-x',
        tenantId: 't1',
      },
    ]);
    await waitFor(
      async () => (await admin.checkQueue(n.deadLetters)).messageCount === 1,
      30_000,
      'a dead letter',
    );
    await waitFor(async () => (await effectCount()) === 2, 30_000, 'the two good effects');

    const dead = (await admin.get(n.deadLetters, { noAck: true })) || undefined;
    expect(dead).toBeDefined();
    const h = dead!.properties.headers as Record<string, unknown>;
    expect(dead!.properties.messageId).toBe(bad);
    expect(h[INTEGRATION_HEADERS.eventId]).toBe(bad);
    expect(String(h[INTEGRATION_HEADERS.error])).toContain('refusing poison');
    expect(h[INTEGRATION_HEADERS.deliveries]).toBe('3');
    expect(h[INTEGRATION_HEADERS.originalSubject]).toBe('thing.made');
    expect(h[INTEGRATION_HEADERS.correlationId]).toBe('corr-x');
    expect(h[INTEGRATION_HEADERS.tenantId]).toBe('t1');
    expect(JSON.parse(dead!.content.toString())).toEqual({ key: 'poison', n: 2 });

    // Replay: fix the handler, publish the dead letter back to the exchange without its error.
    projection.failing.clear();
    const headers = Object.fromEntries(
      Object.entries(h).filter(([k]) => !k.startsWith(INTEGRATION_HEADERS.error)),
    );
    admin.publish(n.exchange, 'thing.made', dead!.content, {
      persistent: true,
      messageId: bad,
      headers,
    });
    await waitFor(async () => (await effectCount()) === 3, 30_000, 'the replayed effect');
    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; status: string }>(
        `select event_id, status from inbox_event where consumer_name = 'projection' order by event_id`,
      );
      expect(rows).toEqual(
        [good1, bad, good2].sort().map((id) => ({ event_id: id, status: 'processed' })),
      );
    });
  });

  it('rejects a publish that no queue takes (the relay never settles it as relayed)', async () => {
    const n = names();
    const t = transport(n, RABBITMQ_URL);
    await t.connect();
    try {
      await expect(
        t.publish({ id: 'x', name: 'thing.made', key: 'k', headers: {}, payload: '{}' }),
      ).rejects.toThrow(/no queue is bound/);
    } finally {
      await t.close();
    }
  });

  /** Spawns test/brokers/relay-child.js and waits for it to be ready. */
  function startRelayChild(env: NodeJS.ProcessEnv): Promise<ChildProcess> {
    return startChild('relay-child', env);
  }

  /** Spawns test/brokers/<name>.js and waits for it to say it is ready. */
  async function startChild(name: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
    const child = spawn(process.execPath, [path.join(__dirname, `${name}.js`)], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (c: Buffer) => {
        output += c.toString();
        if (output.includes(`${name} ready`)) resolve();
      });
      child.once('exit', (code) => reject(new Error(`${name} exited (${code}):\n${output}`)));
    });
    return child;
  }

  async function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await exited;
  }

  it('a trace started in the publishing app continues in the consuming app through the broker (#rabbitmq-trace)', async () => {
    const n = names();
    await expectTraceThroughBroker({
      relayConsumer: 'rabbitmq-relay',
      consumer: 'projection',
      start: async (tracing) => {
        // The consuming app first: it declares and binds the queue the relay publishes to.
        const projection = new Projection();
        projection.failingOnce.add(TRACED_KEY);
        await consumingApp(transport(n, RABBITMQ_URL, true), projection, tracing.consumer);
        const producer = await relayingApp(transport(n, RABBITMQ_URL), tracing.producer);
        return {
          producer,
          stop: async () => {
            while (apps.length) await apps.pop()!.close();
          },
        };
      },
    });
    expect(await effectCount()).toBe(1);
  });
});
