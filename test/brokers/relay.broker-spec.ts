import { Injectable, Logger } from '@nestjs/common';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { PoolClient } from 'pg';
import {
  connect as natsConnect,
  headers as natsHeaders,
  type NatsConnection,
} from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect as amqpConnect, type Channel, type ChannelModel } from 'amqplib';
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
  type IntegrationTransport,
} from 'nestjs-integration';
import { natsTransport } from 'nestjs-integration/nats';
import { rabbitMqTransport } from 'nestjs-integration/rabbitmq';
import {
  NATS_URL,
  RABBITMQ_URL,
  requireBroker,
  startBrokerProxy,
  type BrokerProxy,
} from '../support/brokers';
import { expectTraceThroughBroker, TRACED_KEY } from '../support/broker-tracing';
import { CaptureLogger } from '../support/capture-logger';
import { thingEvent } from '../support/effect-fixture';
import {
  createIntegrationApp,
  publishAll,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor, waitForDrained } from '../support/wait-for';

/**
 * Issue 17 tests 1-3 through each broker: one suite, run once per row of {@link BROKERS}. A row
 * holds what differs between brokers (topology names, the children's environment, reading the
 * dead letters, replaying one); everything else is shared.
 */

const EFFECT_TABLE = 'rb_effect';
const EFFECT = `insert into ${EFFECT_TABLE} (event_id, key, n) values ($1, $2, $3)`;

/** The consuming app's projection: one row per event, in the handler's transaction. */
@Injectable()
@IntegrationConsumer('projection')
class Projection {
  readonly failing = new Set<string>();
  /** Keys whose first delivery fails (the retry then succeeds). */
  readonly failingOnce = new Set<string>();
  /** Handler calls so far. */
  entered = 0;
  /** While set, every handler call waits for it (messages stay in hand). */
  gate?: Promise<void>;

  @OnIntegrationEvent('thing.*')
  async onThing(
    event: IntegrationEvent<{ key: string; n: number }>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    this.entered++;
    await this.gate;
    if (this.failing.has(event.payload.key)) throw new Error(`refusing ${event.payload.key}`);
    if (ctx.attempt === 1 && this.failingOnce.has(event.payload.key))
      throw new Error(`not yet ${event.payload.key}`);
    await ctx.tx.query(EFFECT, [event.id, event.payload.key, event.payload.n]);
  }
}

/** A dead letter as read back from the broker. */
interface DeadLetter {
  readonly subject: string;
  readonly messageId: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: string;
}

/** The per-broker parts of the suite. */
interface BrokerUnderTest {
  /** As in test names and logs: `nats`, `rabbitmq`. */
  readonly id: string;
  readonly name: string;
  readonly url: string;
  /** The relay consumer of the in-process relaying app. */
  readonly relayConsumer: string;
  /** Opens the suite's admin connection (fails when the broker is unreachable). */
  open(): Promise<void>;
  close(): Promise<void>;
  /** Fresh topology names for one test; {@link cleanup} deletes them. */
  names(): Names;
  cleanup(): Promise<void>;
  /** The transport of an app: relaying, or also inbound (`projection`). */
  transport(n: Names, url: string, inbound?: boolean): IntegrationTransport;
  /** The environment of relay-child.js and consumer-child.js (see child-boot.js). */
  childEnv(n: Names, url: string): NodeJS.ProcessEnv;
  /** Broker-side checks after the 10,000-event run (the broker holds each event once...). */
  checkStored(n: Names, ids: readonly string[]): Promise<void>;
  deadLetterCount(n: Names): Promise<number>;
  readDeadLetter(n: Names): Promise<DeadLetter>;
  /** What the dead letter of `eventId` (published as `thing.made`) looks like on this broker. */
  expectedDeadLetter(n: Names, eventId: string): { subject?: string; messageId: string | RegExp };
  /** Publishes `dead` back to where it came from, without its error, as an operator would. */
  replay(n: Names, dead: DeadLetter, eventId: string): Promise<void>;
  /** A relaying transport whose publishes no stream or queue takes, and the rejection. */
  unroutedTransport(n: Names): IntegrationTransport;
  readonly unrouted: RegExp;
}

type Names = Record<string, string> & { readonly tag: string };

function natsBroker(): BrokerUnderTest {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const streams: string[] = [];
  const subject = (n: Names, name: string) => `${n.prefix}.${name}`;
  const deadLetterSubject = (n: Names, s: string) => `${n.prefix}-dl.${s}`;
  return {
    id: 'nats',
    name: 'NATS JetStream',
    url: NATS_URL,
    relayConsumer: 'nats-relay',
    open: async () => {
      await requireBroker('NATS', NATS_URL);
      nc = await natsConnect({ servers: NATS_URL });
      jsm = await jetstreamManager(nc);
    },
    close: async () => {
      await nc?.close();
    },
    names: () => {
      const tag = randomBytes(4).toString('hex');
      const n = { tag, prefix: `ni${tag}`, stream: `NI_${tag}`, deadLetters: `NI_DL_${tag}` };
      streams.push(n.stream, n.deadLetters);
      return n;
    },
    cleanup: async () => {
      while (streams.length) await jsm.streams.delete(streams.pop()!).catch(() => undefined);
    },
    transport: (n, url, inbound = false) =>
      natsTransport({
        servers: url,
        connection: { reconnectTimeWait: 100, name: inbound ? 'inbound' : 'relay' },
        subject: (name) => subject(n, name),
        streams: [
          { name: n.stream, subjects: [`${n.prefix}.>`], storage: 'memory' },
          { name: n.deadLetters, subjects: [`${n.prefix}-dl.>`], storage: 'memory' },
        ],
        ...(inbound
          ? {
              inbound: {
                stream: n.stream,
                durable: 'projection',
                deadLetterSubject: (s) => deadLetterSubject(n, s),
                // A message in flight when the connection drops comes back after this
                // (consumer-child.js uses the same).
                ackWaitMs: 2_000,
              },
            }
          : {}),
      }),
    childEnv: (n, url) => ({
      RELAY_BROKER: 'nats',
      NATS_URL: url,
      RELAY_PREFIX: n.prefix,
      INBOUND_STREAM: n.stream,
      DEAD_LETTER_PREFIX: `${n.prefix}-dl`,
    }),
    checkStored: async (n, ids) => {
      // The duplicate window kept the stream at one message per event, republished or not.
      expect((await jsm.streams.info(n.stream)).state.messages).toBe(ids.length);
      // Headers travelled: read one message back (keys are relayed side by side, so the first
      // one stored may be any key's first event).
      const stored = await jsm.streams.getMessage(n.stream, { seq: 1 });
      const i = ids.indexOf(stored!.header.get('Nats-Msg-Id'));
      expect(i).toBeGreaterThanOrEqual(0);
      expect(stored!.header.get(INTEGRATION_HEADERS.eventName)).toMatch(/^thing\./);
      expect(stored!.header.get(INTEGRATION_HEADERS.correlationId)).toBe(`c${i}`);
    },
    deadLetterCount: async (n) => (await jsm.streams.info(n.deadLetters)).state.messages,
    readDeadLetter: async (n) => {
      const dead = (await jsm.streams.getMessage(n.deadLetters, { seq: 1 }))!;
      const headers: Record<string, string> = {};
      for (const [k, v] of dead.header) headers[k] = v[0]!;
      return {
        subject: dead.subject,
        messageId: dead.header.get('Nats-Msg-Id'),
        headers,
        payload: dead.string(),
      };
    },
    expectedDeadLetter: (n, eventId) => ({
      subject: deadLetterSubject(n, subject(n, 'thing.made')),
      messageId: new RegExp(`^${eventId}:dead-letter:\\d+$`),
    }),
    // A new broker id: the old one is inside the duplicate window; the inbox key is still the
    // event id.
    replay: async (_n, dead, eventId) => {
      const h = natsHeaders();
      for (const [k, v] of Object.entries(dead.headers)) {
        if (!k.startsWith('Nats-') && !k.startsWith(INTEGRATION_HEADERS.error)) h.set(k, v);
      }
      await jetstream(nc).publish(
        dead.headers[INTEGRATION_HEADERS.originalSubject]!,
        dead.payload,
        {
          msgID: `${eventId}:replay-1`,
          headers: h,
        },
      );
    },
    // No stream stores the subjects of a transport that declares none.
    unroutedTransport: (n) =>
      natsTransport({ servers: NATS_URL, subject: (name) => `${n.prefix}.${name}` }),
    unrouted: /./,
  };
}

function rabbitMqBroker(): BrokerUnderTest {
  let amqp: ChannelModel;
  let admin: Channel;
  const queues: string[] = [];
  const exchanges: string[] = [];
  return {
    id: 'rabbitmq',
    name: 'RabbitMQ',
    url: RABBITMQ_URL,
    relayConsumer: 'rabbitmq-relay',
    open: async () => {
      await requireBroker('RabbitMQ', RABBITMQ_URL);
      amqp = await amqpConnect(RABBITMQ_URL);
      admin = await amqp.createChannel();
    },
    close: async () => {
      await amqp?.close();
    },
    names: () => {
      const tag = randomBytes(4).toString('hex');
      const queue = `ni.projection.${tag}`;
      const n = { tag, exchange: `ni.test.${tag}`, queue, deadLetters: `${queue}.dead-letter` };
      exchanges.push(n.exchange);
      queues.push(n.queue, n.deadLetters);
      return n;
    },
    cleanup: async () => {
      while (queues.length) await admin.deleteQueue(queues.pop()!).catch(() => undefined);
      while (exchanges.length) await admin.deleteExchange(exchanges.pop()!).catch(() => undefined);
    },
    transport: (n, url, inbound = false) =>
      rabbitMqTransport({
        url,
        exchange: n.exchange,
        ...(inbound ? { inbound: { queue: n.queue, bindings: ['thing.*'] } } : {}),
      }),
    childEnv: (n, url) => ({
      RELAY_BROKER: 'rabbitmq',
      RABBITMQ_URL: url,
      RELAY_EXCHANGE: n.exchange,
      INBOUND_QUEUE: n.queue,
    }),
    checkStored: async (n) => {
      // Everything taken and acknowledged (a republished copy too: the inbox dropped it).
      expect((await admin.checkQueue(n.queue)).messageCount).toBe(0);
      expect((await admin.checkQueue(n.deadLetters)).messageCount).toBe(0);
    },
    deadLetterCount: async (n) => (await admin.checkQueue(n.deadLetters)).messageCount,
    readDeadLetter: async (n) => {
      const dead = await admin.get(n.deadLetters, { noAck: true });
      if (!dead) throw new Error('no dead letter');
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(dead.properties.headers ?? {})) headers[k] = String(v);
      return {
        subject: n.deadLetters,
        messageId: dead.properties.messageId as string,
        headers,
        payload: dead.content.toString(),
      };
    },
    expectedDeadLetter: (_n, eventId) => ({ messageId: eventId }),
    replay: async (n, dead, eventId) => {
      const headers = Object.fromEntries(
        Object.entries(dead.headers).filter(([k]) => !k.startsWith(INTEGRATION_HEADERS.error)),
      );
      admin.publish(n.exchange, 'thing.made', Buffer.from(dead.payload), {
        persistent: true,
        messageId: eventId,
        headers,
      });
    },
    // The exchange is declared, but no queue is bound to it yet.
    unroutedTransport: (n) => rabbitMqTransport({ url: RABBITMQ_URL, exchange: n.exchange }),
    unrouted: /no queue is bound/,
  };
}

const BROKERS: readonly BrokerUnderTest[] = [natsBroker(), rabbitMqBroker()];

describe.each(BROKERS)('relay and inbound through $name (issue 17)', (broker) => {
  let source: TestDatabase;
  let sink: TestDatabase;
  const apps: IntegrationTestApp[] = [];
  const proxies: BrokerProxy[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    // Fails, never skips, when the broker is not reachable.
    await broker.open();
    [source, sink] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    // No unique key on purpose: a duplicate effect must show up as a second row.
    await withPool(sink.url, (pool) =>
      pool.query(
        `create table ${EFFECT_TABLE} (seq serial primary key, event_id text not null, key text not null, n int not null)`,
      ),
    );
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await kill(child, 'SIGTERM');
    while (apps.length) await apps.pop()!.close();
    while (proxies.length) await proxies.pop()!.close();
    await broker.cleanup();
    await withPool(source.url, (pool) =>
      pool.query(
        'truncate outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
      ),
    );
    await withPool(sink.url, (pool) => pool.query(`truncate ${EFFECT_TABLE}, inbox_event`));
  });
  afterAll(async () => {
    await broker.close();
    await source?.drop();
    await sink?.drop();
  });

  async function relayingApp(
    t: IntegrationTransport,
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
            consumer: broker.relayConsumer,
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
    t: IntegrationTransport,
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
      const { rows } = await pool.query<{ n: number }>(
        `select count(*)::int as n from ${EFFECT_TABLE}`,
      );
      return rows[0]!.n;
    });

  /** Deliveries of the relay child's consumer settled as relayed. */
  const relayed = () =>
    withPool(source.url, async (pool) => {
      const { rows } = await pool.query<{ n: number }>(
        `select count(*)::int as n from integration_delivery where consumer_name = 'broker-relay' and status = 'processed'`,
      );
      return rows[0]!.n;
    });

  async function expectExactlyOnceInKeyOrder(ids: readonly string[], keys: number) {
    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; key: string; n: number }>(
        `select event_id, key, n from ${EFFECT_TABLE} order by seq`,
      );
      expect(rows).toHaveLength(ids.length);
      expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
      for (let k = 0; k < keys; k++) {
        const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
    });
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

  it('10,000 events with the relaying app SIGKILLed twice, the consuming app once and every broker connection cut twice: each effect exactly once in the consumer database, per-key order (test 1)', async () => {
    const n = broker.names();
    const proxy = await startBrokerProxy(broker.url);
    proxies.push(proxy);
    // Topology first (stream, durable consumer / exchange, queue, bindings), as a deployment would.
    const setup = broker.transport(n, broker.url, true);
    await setup.connect();
    await setup.close();
    const env = { DATABASE_URL: source.url, ...broker.childEnv(n, proxy.url) };
    const relay = () => startChild('relay-child', env);
    const consumer = () =>
      startChild('consumer-child', { ...env, DATABASE_URL: sink.url, EFFECT_TABLE });
    let consumerChild = await consumer();
    let relayChild = await relay();
    const publisher = await createIntegrationApp(source.url);
    apps.push(publisher);

    const started = Date.now();
    const TOTAL = 10_000;
    const CHUNK = 1_000;
    const KEYS = 50;
    const ids: string[] = [];
    const step = (what: string) =>
      process.stderr.write(`${broker.id}: ${what} at ${Date.now() - started} ms\n`);
    for (let chunk = 0; chunk < TOTAL / CHUNK; chunk++) {
      const events = Array.from({ length: CHUNK }, (_, j) => {
        const i = chunk * CHUNK + j;
        return {
          ...thingEvent(i % 3 ? 'thing.moved' : 'thing.made', `k${i % KEYS}`, {
            key: `k${i % KEYS}`,
            n: i,
          }),
          correlationId: `c${i}`,
        };
      });
      ids.push(...(await publishAll(publisher, events)));
      // Each disruption while events are still unpublished, so it lands mid-stream.
      if (chunk === 1) {
        await waitFor(async () => (await relayed()) >= 1_500, 120_000, '1,500 relayed');
        await kill(relayChild, 'SIGKILL');
        step('relaying app SIGKILLed');
        relayChild = await relay();
      } else if (chunk === 3) {
        await waitFor(async () => (await effectCount()) >= 2_500, 120_000, '2,500 effects');
        await kill(consumerChild, 'SIGKILL');
        step('consuming app SIGKILLed');
        consumerChild = await consumer();
      } else if (chunk === 5) {
        await waitFor(async () => (await relayed()) >= 5_000, 120_000, '5,000 relayed');
        expect(proxy.cut()).toBeGreaterThan(1);
        step('connections cut');
      } else if (chunk === 7) {
        await waitFor(async () => (await relayed()) >= 7_000, 120_000, '7,000 relayed');
        await kill(relayChild, 'SIGKILL');
        step('relaying app SIGKILLed');
        relayChild = await relay();
      } else if (chunk === 8) {
        await waitFor(async () => (await effectCount()) >= 6_000, 120_000, '6,000 effects');
        expect(proxy.cut()).toBeGreaterThan(1);
        step('connections cut');
      }
    }
    await waitForDrained(
      async () => TOTAL - (await effectCount()),
      30_000,
      'effects in the consumer database',
    );
    process.stderr.write(
      `${broker.id}: ${TOTAL} events relayed and applied in ${Date.now() - started} ms\n`,
    );

    await expectExactlyOnceInKeyOrder(ids, KEYS);
    expect(await relayed()).toBe(TOTAL);
    await broker.checkStored(n, ids);
    // Relay and consuming children, restarted ones and reconnections included.
    expect(proxy.connections).toBeGreaterThan(6);
    await withPool(source.url, async (pool) => {
      const { rows } = await pool.query<{ n: number }>(
        `select count(*)::int as n from integration_delivery where consumer_name = 'broker-relay' and attempt_count > 1`,
      );
      process.stderr.write(
        `${broker.id}: ${rows[0]!.n} deliveries relayed again after a kill or cut\n`,
      );
    });
  });

  it('a message whose handler always fails ends in the dead letters with its headers and error; replaying it works (test 2)', async () => {
    const n = broker.names();
    const projection = new Projection();
    projection.failing.add('poison');
    // The consuming app first: it declares the topology the relay publishes to.
    await consumingApp(broker.transport(n, broker.url, true), projection);
    const producer = await relayingApp(broker.transport(n, broker.url));
    const [good1, bad, good2] = await publishAll(producer, [
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
    await waitFor(async () => (await broker.deadLetterCount(n)) === 1, 30_000, 'a dead letter');
    await waitFor(async () => (await effectCount()) === 2, 30_000, 'the two good effects');

    const dead = await broker.readDeadLetter(n);
    const expected = broker.expectedDeadLetter(n, bad!);
    if (expected.subject) expect(dead.subject).toBe(expected.subject);
    expect(dead.messageId).toMatch(expected.messageId);
    expect(dead.headers[INTEGRATION_HEADERS.eventId]).toBe(bad);
    expect(dead.headers[INTEGRATION_HEADERS.error]).toContain('refusing poison');
    // Three attempts (retry.maxAttempts): the first delivery and two retries in place.
    expect(dead.headers[INTEGRATION_HEADERS.deliveries]).toBe('3');
    expect(dead.headers[INTEGRATION_HEADERS.originalSubject]).toMatch(/thing\.made$/);
    expect(dead.headers[INTEGRATION_HEADERS.correlationId]).toBe('corr-x');
    expect(dead.headers[INTEGRATION_HEADERS.tenantId]).toBe('t1');
    expect(JSON.parse(dead.payload)).toEqual({ key: 'poison', n: 2 });

    // Replay: fix the handler, publish the dead letter back without its error.
    projection.failing.clear();
    await broker.replay(n, dead, bad!);
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

  it('a connection cut while messages are in hand logs the loss once, nothing per message, and each effect lands once', async () => {
    const n = broker.names();
    const proxy = await startBrokerProxy(broker.url);
    proxies.push(proxy);
    const projection = new Projection();
    let release!: () => void;
    projection.gate = new Promise<void>((resolve) => (release = resolve));
    await consumingApp(broker.transport(n, proxy.url, true), projection);
    const producer = await relayingApp(broker.transport(n, broker.url));
    // Nest's logger is one per process: installed after both apps (each installs its own), it
    // takes every line from here on.
    const logger = new CaptureLogger();
    Logger.overrideLogger(logger);
    const keys = 20;
    const ids = await publishAll(
      producer,
      Array.from({ length: keys }, (_, i) =>
        thingEvent('thing.made', `k${i}`, { key: `k${i}`, n: i }),
      ),
    );
    // Inbound concurrency 16: up to 16 messages wait in their handlers.
    await waitFor(async () => projection.entered >= 8, 30_000, 'messages in hand');
    expect(proxy.cut()).toBeGreaterThan(0);
    const lost = /RabbitMQ connection lost|NATS disconnect/;
    await waitFor(async () => logger.matching(lost).length > 0, 30_000, 'the loss logged');
    release();
    await waitFor(async () => (await effectCount()) === keys, 60_000, 'every effect');
    await expectExactlyOnceInKeyOrder(ids, keys);
    expect(logger.matching(lost)).toHaveLength(1);
    // The messages in hand are redelivered by the broker (the inbox drops the copies): none of
    // them is worth a warning of its own.
    const perMessage = logger.lines.filter(
      (l) => l.level === 'warn' && /Could not settle|Handling .* failed/.test(l.message),
    );
    expect(perMessage).toEqual([]);
  });

  it('a trace started in the publishing app continues in the consuming app through the broker (test 3)', async () => {
    const n = broker.names();
    await expectTraceThroughBroker({
      relayConsumer: broker.relayConsumer,
      consumer: 'projection',
      start: async (tracing) => {
        // The consuming app first: it declares the topology the relay publishes to.
        const projection = new Projection();
        projection.failingOnce.add(TRACED_KEY);
        await consumingApp(broker.transport(n, broker.url, true), projection, tracing.consumer);
        const producer = await relayingApp(broker.transport(n, broker.url), tracing.producer);
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

  it('rejects a publish that no stream or queue takes (the relay never settles it as relayed)', async () => {
    const n = broker.names();
    const t = broker.unroutedTransport(n);
    await t.connect();
    try {
      await expect(
        t.publish({ id: 'x', name: 'thing.made', key: 'k', headers: {}, payload: '{}' }),
      ).rejects.toThrow(broker.unrouted);
    } finally {
      await t.close();
    }
  });
});
