import { Injectable } from '@nestjs/common';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { PoolClient } from 'pg';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
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
import { NatsTransport, natsTransport } from 'nestjs-integration/nats';
import { NATS_URL, requireBroker, startBrokerProxy, type BrokerProxy } from '../support/brokers';
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

const EFFECT = 'insert into nr_effect (event_id, key, n) values ($1, $2, $3)';

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

describe('relay and inbound through NATS JetStream (issue 17)', () => {
  let source: TestDatabase;
  let sink: TestDatabase;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const apps: IntegrationTestApp[] = [];
  const proxies: BrokerProxy[] = [];
  const streams: string[] = [];
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    await requireBroker('NATS', NATS_URL);
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    [source, sink] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    // No unique key on purpose: a duplicate effect must show up as a second row.
    await withPool(sink.url, (pool) =>
      pool.query(
        'create table nr_effect (seq serial primary key, event_id text not null, key text not null, n int not null)',
      ),
    );
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await kill(child, 'SIGTERM');
    while (apps.length) await apps.pop()!.close();
    while (proxies.length) await proxies.pop()!.close();
    while (streams.length) await jsm.streams.delete(streams.pop()!).catch(() => undefined);
    await withPool(source.url, (pool) =>
      pool.query(
        'truncate outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
      ),
    );
    await withPool(sink.url, (pool) => pool.query('truncate nr_effect, inbox_event'));
  });
  afterAll(async () => {
    await nc?.close();
    await source?.drop();
    await sink?.drop();
  });

  /** Fresh stream and subject names for one test. */
  function names() {
    const tag = randomBytes(4).toString('hex');
    const prefix = `ni${tag}`;
    const stream = `NI_${tag}`;
    const deadLetters = `NI_DL_${tag}`;
    streams.push(stream, deadLetters);
    return {
      prefix,
      stream,
      deadLetters,
      subject: (name: string) => `${prefix}.${name}`,
      deadLetterSubject: (subject: string) => `${prefix}-dl.${subject}`,
    };
  }

  function transport(n: ReturnType<typeof names>, url: string, inbound = false): NatsTransport {
    return natsTransport({
      servers: url,
      connection: { reconnectTimeWait: 100, name: inbound ? 'inbound' : 'relay' },
      subject: n.subject,
      streams: [
        { name: n.stream, subjects: [`${n.prefix}.>`], storage: 'memory' },
        { name: n.deadLetters, subjects: [`${n.prefix}-dl.>`], storage: 'memory' },
      ],
      ...(inbound
        ? {
            inbound: {
              stream: n.stream,
              durable: 'projection',
              deadLetterSubject: n.deadLetterSubject,
              // A message in flight when the connection drops comes back after this.
              ackWaitMs: 2_000,
            },
          }
        : {}),
    });
  }

  async function relayingApp(
    t: NatsTransport,
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
            consumer: 'nats-relay',
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
    t: NatsTransport,
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
      const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from nr_effect');
      return rows[0]!.n;
    });

  it('3,000 events: every effect exactly once in the consumer database and per-key order, across broker connection cuts (#nats-exactly-once)', async () => {
    const n = names();
    const proxy = await startBrokerProxy(NATS_URL);
    proxies.push(proxy);
    await relayingApp(transport(n, proxy.url));
    await consumingApp(transport(n, proxy.url, true));
    const producer = apps[0]!;

    const started = Date.now();
    const TOTAL = 3_000;
    const KEYS = 40;
    const ids: string[] = [];
    for (let chunk = 0; chunk < TOTAL / 500; chunk++) {
      const events = Array.from({ length: 500 }, (_, j) => {
        const i = chunk * 500 + j;
        return {
          ...thingEvent(i % 3 ? 'thing.moved' : 'thing.made', `k${i % KEYS}`, {
            key: `k${i % KEYS}`,
            n: i,
          }),
          correlationId: `c${i}`,
        };
      });
      ids.push(...(await publishAll(producer, events)));
      // Cut every broker connection (relay's and inbound's) while both are busy.
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

    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; key: string; n: number }>(
        'select event_id, key, n from nr_effect order by seq',
      );
      expect(rows).toHaveLength(TOTAL);
      expect(new Set(rows.map((r) => r.event_id)).size).toBe(TOTAL);
      expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
      for (let k = 0; k < KEYS; k++) {
        const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
    });
    process.stderr.write(
      `nats: ${TOTAL} events relayed and applied in ${Date.now() - started} ms\n`,
    );
    // The duplicate window kept the stream at one message per event, republished or not.
    expect((await jsm.streams.info(n.stream)).state.messages).toBe(TOTAL);
    expect(proxy.connections).toBeGreaterThan(2);
    // Headers travelled: read one message back.
    const stored = await jsm.streams.getMessage(n.stream, { seq: 1 });
    expect(stored!.header.get(INTEGRATION_HEADERS.eventName)).toMatch(/^thing\./);
    expect(stored!.header.get(INTEGRATION_HEADERS.correlationId)).toBe('c0');
    expect(stored!.header.get('Nats-Msg-Id')).toBe(ids[0]);
  });

  it('the relaying app SIGKILLed twice mid-stream and its connection cut once: every effect exactly once, per-key order (#nats-sigkill)', async () => {
    const n = names();
    const proxy = await startBrokerProxy(NATS_URL);
    proxies.push(proxy);
    // The consuming app declares the streams and the durable consumer.
    await consumingApp(transport(n, NATS_URL, true));
    const relay = () =>
      startRelayChild({ DATABASE_URL: source.url, NATS_URL: proxy.url, RELAY_PREFIX: n.prefix });
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
    const relayed = async () => (await jsm.streams.info(n.stream)).state.messages;
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
    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; key: string; n: number }>(
        'select event_id, key, n from nr_effect order by seq',
      );
      expect(rows).toHaveLength(TOTAL);
      expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
      for (let k = 0; k < KEYS; k++) {
        const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
    });
    expect(await relayed()).toBe(TOTAL);
    await withPool(source.url, async (pool) => {
      const { rows } = await pool.query<{ status: string; n: number }>(
        `select status, count(*)::int as n from integration_delivery where consumer_name = 'broker-relay' group by status`,
      );
      expect(rows).toEqual([{ status: 'processed', n: TOTAL }]);
      const { rows: retried } = await pool.query<{ n: number }>(
        `select count(*)::int as n from integration_delivery where consumer_name = 'broker-relay' and attempt_count > 1`,
      );
      process.stderr.write(
        `nats sigkill: ${retried[0]!.n} deliveries relayed again after a kill or cut\n`,
      );
    });
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

  it('the consuming app SIGKILLed mid-stream and restarted: every effect exactly once, per-key order (#nats-consumer-sigkill)', async () => {
    const n = names();
    // The relaying app declares both streams; the consumer child declares its durable consumer.
    const producer = await relayingApp(transport(n, NATS_URL));
    const consumer = () =>
      startChild('consumer-child', {
        DATABASE_URL: sink.url,
        EFFECT_TABLE: 'nr_effect',
        NATS_URL,
        INBOUND_STREAM: n.stream,
        DEAD_LETTER_PREFIX: `${n.prefix}-dl`,
      });
    let child = await consumer();
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
    await withPool(sink.url, async (pool) => {
      const { rows } = await pool.query<{ event_id: string; key: string; n: number }>(
        'select event_id, key, n from nr_effect order by seq',
      );
      expect(rows).toHaveLength(TOTAL);
      expect(new Set(rows.map((r) => r.event_id))).toEqual(new Set(ids));
      for (let k = 0; k < KEYS; k++) {
        const ns = rows.filter((r) => r.key === `k${k}`).map((r) => r.n);
        expect(ns).toEqual([...ns].sort((a, b) => a - b));
      }
    });
    await kill(child, 'SIGTERM');
  });

  it('a message whose handler always fails ends in the dead-letter subject with its headers and error; replaying it works (#nats-dead-letter)', async () => {
    const n = names();
    await relayingApp(transport(n, NATS_URL));
    const projection = new Projection();
    projection.failing.add('poison');
    await consumingApp(transport(n, NATS_URL, true), projection);
    const [good1, bad, good2] = await publishAll(apps[0]!, [
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
      async () => (await jsm.streams.info(n.deadLetters)).state.messages === 1,
      30_000,
      'a dead letter',
    );
    await waitFor(async () => (await effectCount()) === 2, 30_000, 'the two good effects');

    const dead = (await jsm.streams.getMessage(n.deadLetters, { seq: 1 }))!;
    expect(dead.subject).toBe(n.deadLetterSubject(n.subject('thing.made')));
    expect(dead.header.get('Nats-Msg-Id')).toMatch(new RegExp(`^${bad}:dead-letter:\\d+$`));
    expect(dead.header.get(INTEGRATION_HEADERS.eventId)).toBe(bad);
    expect(dead.header.get(INTEGRATION_HEADERS.error)).toContain('refusing poison');
    expect(dead.header.get(INTEGRATION_HEADERS.deliveries)).toBe('3');
    expect(dead.header.get(INTEGRATION_HEADERS.originalSubject)).toBe(n.subject('thing.made'));
    expect(dead.header.get(INTEGRATION_HEADERS.correlationId)).toBe('corr-x');
    expect(dead.header.get(INTEGRATION_HEADERS.tenantId)).toBe('t1');
    expect(JSON.parse(dead.string())).toEqual({ key: 'poison', n: 2 });

    // Replay: fix the handler, publish the dead letter back under a new broker id (the old one
    // is inside the duplicate window); the inbox key is still the event id.
    projection.failing.clear();
    const { jetstream } = await import('@nats-io/jetstream');
    const { headers } = await import('@nats-io/transport-node');
    const h = headers();
    for (const [k, v] of dead.header) {
      if (!k.startsWith('Nats-') && !k.startsWith(INTEGRATION_HEADERS.error)) h.set(k, v[0]!);
    }
    await jetstream(nc).publish(dead.header.get(INTEGRATION_HEADERS.originalSubject), dead.data, {
      msgID: `${bad}:replay-1`,
      headers: h,
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

  it('a trace started in the publishing app continues in the consuming app through the broker (#nats-trace)', async () => {
    const n = names();
    await expectTraceThroughBroker({
      relayConsumer: 'nats-relay',
      consumer: 'projection',
      start: async (tracing) => {
        const producer = await relayingApp(transport(n, NATS_URL), tracing.producer);
        const projection = new Projection();
        projection.failingOnce.add(TRACED_KEY);
        await consumingApp(transport(n, NATS_URL, true), projection, tracing.consumer);
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

  it('rejects a publish that no stream stores (the relay never settles it as relayed)', async () => {
    const n = names();
    const t = natsTransport({ servers: NATS_URL, subject: n.subject });
    await t.connect();
    try {
      await expect(
        t.publish({ id: 'x', name: 'thing.made', key: 'k', headers: {}, payload: '{}' }),
      ).rejects.toThrow();
    } finally {
      await t.close();
    }
  });
});
