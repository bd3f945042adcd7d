import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { randomBytes } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import {
  DEFAULT_INBOUND_CONCURRENCY,
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationInboundModule,
  IntegrationModule,
  IntegrationRelayModule,
  JitterMode,
  OutboxProcessor,
  pgAdapter,
  type IntegrationTransport,
} from '../../src/integration';
import { natsTransport } from '../../src/integration/transports/nats';
import { rabbitMqTransport } from '../../src/integration/transports/rabbitmq';
import { eventFor, recordingAdapter } from '../lib/integration-app';
import { benchPool, type BenchServer } from '../lib/server';
import { fmt, med, ms, type Table } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import {
  median,
  medianPercentiles,
  nowMs,
  percentiles,
  sleep,
  summarize,
  type Percentiles,
} from '../lib/stats';
import { latencyFigures, publishAtRate, WORKLOAD_DDL, type LatencyFigures } from '../lib/workload';
import { seedBacklog } from '../subjects/nestjs-integration';

/** The brokers scenario 9 relays to. */
export const RELAY_BROKERS = ['nats', 'rabbitmq'] as const;
export type RelayBroker = (typeof RELAY_BROKERS)[number];

const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';
const RELAY = 'bench-relay';
const PROJECTION = 'bench-projection';

/** Scenario 9a figures of one run. */
export interface RelayThroughputRun {
  readonly broker: RelayBroker;
  readonly instances: number;
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSec: number;
  /** Messages the broker holds afterwards (NATS: the stream; RabbitMQ: the bound queue). */
  readonly brokerMessages: number;
}

/** Scenario 9b figures of one run: end to end, and its first leg. */
export interface RelayLatencyFigures extends LatencyFigures {
  /** Publishing transaction's COMMIT returned → the relay's publish acknowledged (ms). */
  readonly toBrokerAck: Percentiles;
}

/** `transport`, noting when each publish was acknowledged. */
function ackRecording(
  transport: IntegrationTransport,
  acked: Map<string, number>,
): IntegrationTransport {
  return {
    name: transport.name,
    connect: () => transport.connect(),
    publish: async (message) => {
      await transport.publish(message);
      acked.set(message.id, nowMs());
    },
    close: () => transport.close(),
  };
}

/** Fresh broker names for one run, and how to remove them afterwards. */
interface BrokerTopology {
  /** A relaying transport; `inbound` adds the consuming side. */
  transport(inbound?: boolean): IntegrationTransport;
  /** Creates what a relay-only run needs to be acknowledged (RabbitMQ: a bound queue). */
  prepare(): Promise<void>;
  messages(): Promise<number>;
  remove(): Promise<void>;
}

function topology(broker: RelayBroker): BrokerTopology {
  const tag = randomBytes(4).toString('hex');
  if (broker === 'nats') {
    const stream = `BENCH_${tag}`;
    const prefix = `bench${tag}`;
    const streams = [{ name: stream, subjects: [`${prefix}.>`] }];
    const admin = async <T>(
      fn: (jsm: import('@nats-io/jetstream').JetStreamManager) => Promise<T>,
    ) => {
      const { connect } = await import('@nats-io/transport-node');
      const { jetstreamManager } = await import('@nats-io/jetstream');
      const nc = await connect({ servers: NATS_URL });
      try {
        return await fn(await jetstreamManager(nc));
      } finally {
        await nc.close();
      }
    };
    return {
      transport: (inbound = false) =>
        natsTransport({
          servers: NATS_URL,
          subject: (name) => `${prefix}.${name}`,
          streams,
          ...(inbound ? { inbound: { stream, durable: PROJECTION } } : {}),
        }),
      prepare: async () => undefined,
      messages: () => admin(async (jsm) => (await jsm.streams.info(stream)).state.messages),
      remove: () => admin(async (jsm) => void (await jsm.streams.delete(stream).catch(() => 0))),
    };
  }
  const exchange = `bench.${tag}`;
  const queue = `bench-${tag}`;
  const admin = async <T>(fn: (ch: import('amqplib').Channel) => Promise<T>) => {
    const amqp = await import('amqplib');
    const connection = await amqp.connect(RABBITMQ_URL);
    try {
      return await fn(await connection.createChannel());
    } finally {
      await connection.close();
    }
  };
  return {
    transport: (inbound = false) =>
      rabbitMqTransport({
        url: RABBITMQ_URL,
        exchange,
        ...(inbound ? { inbound: { queue, bindings: ['#'] } } : {}),
      }),
    prepare: () =>
      admin(async (ch) => {
        await ch.assertExchange(exchange, 'topic', { durable: true });
        await ch.assertQueue(queue, { durable: true });
        await ch.bindQueue(queue, exchange, '#');
      }),
    messages: () => admin(async (ch) => (await ch.checkQueue(queue)).messageCount),
    remove: () =>
      admin(async (ch) => {
        await ch.deleteQueue(queue).catch(() => undefined);
        await ch.deleteQueue(`${queue}.dead-letter`).catch(() => undefined);
        await ch.deleteExchange(exchange).catch(() => undefined);
      }),
  };
}

/** A relaying app: IntegrationModule (processor started by hand) plus one relay consumer. */
async function relayApp(
  pool: Pool,
  transport: IntegrationTransport,
  workerId: string,
  listen: boolean,
): Promise<INestApplicationContext> {
  @Module({
    imports: [
      IntegrationModule.forRoot({
        database: pgAdapter(pool),
        notify: { enabled: listen },
        tracing: { enabled: false },
        processor: {
          enabled: false,
          workerId,
          retry: { maxAttempts: 50, baseDelayMs: 50, maxDelayMs: 1_000, jitter: JitterMode.Full },
        },
      }),
      IntegrationRelayModule.forRoot({
        consumer: RELAY,
        transport,
        // The backlog was published before the relay first started: relay it all.
        startFrom: 'retained',
      }),
    ],
  })
  class RelayBenchModule {}
  return NestFactory.createApplicationContext(RelayBenchModule, { logger: ['error', 'warn'] });
}

/**
 * 9a: relay throughput. `events` committed events (100 per business transaction) wait in the
 * outbox; `instances` relaying apps (each its own Nest app and pool, in this process) start at
 * once and publish them to the broker, each publish awaiting the broker's acknowledgement
 * (JetStream PubAck, RabbitMQ publisher confirm); the clock stops when the relay consumer's
 * last delivery is marked processed.
 */
export async function relayThroughput(
  server: BenchServer,
  broker: RelayBroker,
  instances: number,
  events: number,
): Promise<RelayThroughputRun> {
  return server.withDatabase(`relay-${broker}-${instances}`, async (db) => {
    const broker_ = topology(broker);
    const pools: Pool[] = [];
    const apps: INestApplicationContext[] = [];
    const pool = benchPool(db.url, 2);
    try {
      await broker_.prepare();
      await pool.query(WORKLOAD_DDL);
      await seedBacklog(db, events);
      for (let i = 0; i < instances; i++) {
        const p = benchPool(db.url, 10);
        pools.push(p);
        apps.push(await relayApp(p, broker_.transport(), `relay-${i}`, false));
      }
      const started = nowMs();
      await Promise.all(apps.map((app) => app.get(OutboxProcessor).start()));
      for (;;) {
        const { rows } = await pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM integration_delivery WHERE consumer_name = $1 AND status = 'processed'`,
          [RELAY],
        );
        if (rows[0]!.n >= events) break;
        await sleep(50);
      }
      const seconds = (nowMs() - started) / 1000;
      return {
        broker,
        instances,
        events,
        seconds,
        eventsPerSec: events / seconds,
        brokerMessages: await broker_.messages(),
      };
    } finally {
      for (const app of apps) await app.close();
      for (const p of pools) await p.end();
      await pool.end();
      await broker_.remove().catch(() => undefined);
    }
  });
}

/**
 * 9b: end-to-end latency through a broker. A publishing app (processor on, LISTEN wake-ups,
 * one relay consumer) commits business transactions with one event each at `rate` per second;
 * a consuming app on its own database takes them in with `IntegrationInboundModule` (default
 * concurrency: up to 16 messages of different keys at once; its handler inserts one projection
 * row). Run at a rate well below saturation and at one near it. Measured: from the publishing transaction's COMMIT
 * returning to the consuming handler's transaction (with its inbox mark) committing.
 */
export async function relayLatency(
  server: BenchServer,
  broker: RelayBroker,
  options: { rate: number; durationMs: number; maxWaitMs: number },
): Promise<RelayLatencyFigures> {
  return server.withDatabase(`relay-latency-${broker}`, (source) =>
    server.withDatabase(`relay-latency-${broker}-sink`, async (sink) => {
      const broker_ = topology(broker);
      const sourcePool = benchPool(source.url, 16);
      // One connection per message the inbound module handles at once (16 by default), and a spare.
      const sinkPool = benchPool(sink.url, DEFAULT_INBOUND_CONCURRENCY + 1);
      const apps: INestApplicationContext[] = [];
      const observed: Array<[string, number, number]> = [];
      const pending = new Map<unknown, Array<[string, number]>>();
      const acked = new Map<string, number>();
      try {
        await sourcePool.query(WORKLOAD_DDL);
        await sinkPool.query(WORKLOAD_DDL);
        // The consumer first: it declares the stream or queue the relay publishes to.
        @Module({
          imports: [
            IntegrationModule.forRoot({
              database: recordingAdapter(sinkPool, observed, pending),
              tracing: { enabled: false },
              processor: { enabled: false },
            }),
            IntegrationInboundModule.forRoot({
              consumers: [PROJECTION],
              transport: broker_.transport(true),
            }),
          ],
          providers: [
            {
              provide: 'projection',
              inject: [EventSubscriberRegistry],
              useFactory: (registry: EventSubscriberRegistry) => {
                registry.registerConsumer(PROJECTION);
                registry.register<{ orderId: number; amount: number }, PoolClient>({
                  consumer: PROJECTION,
                  pattern: '**',
                  name: 'BenchProjection.handle',
                  handle: async (event, ctx) => {
                    const start = nowMs();
                    await ctx.tx.query(
                      'INSERT INTO bench_projection (event_id, consumer, order_id, amount) VALUES ($1, $2, $3, $4)',
                      [event.id, PROJECTION, event.payload.orderId, event.payload.amount],
                    );
                    pending.get(ctx.tx)?.push([event.id, start]);
                  },
                });
                return registry;
              },
            },
          ],
        })
        class ConsumerBenchModule {}
        apps.push(
          await NestFactory.createApplicationContext(ConsumerBenchModule, {
            logger: ['error', 'warn'],
          }),
        );
        const relay = await relayApp(
          sourcePool,
          ackRecording(broker_.transport(), acked),
          'relay-latency',
          true,
        );
        apps.push(relay);
        await relay.get(OutboxProcessor).start();
        const publisher = relay.get(DomainEventPublisher);
        const published = await publishAtRate(
          sourcePool,
          options.rate,
          options.durationMs,
          async (client, n) => {
            const { rows } = await client.query<{ id: string }>(
              `INSERT INTO bench_order (customer, amount) VALUES ($1, $2) RETURNING id`,
              [`customer-${n % 1000}`, (n % 97) + 1],
            );
            return (await publisher.publish(client, eventFor(Number(rows[0]!.id))))!;
          },
        );
        const deadline = nowMs() + options.maxWaitMs;
        while (observed.length < published.total && nowMs() < deadline) await sleep(50);
        const toBrokerAck: number[] = [];
        for (const [id, committed] of published.commits) {
          const at = acked.get(id);
          if (at !== undefined) toBrokerAck.push(at - committed);
        }
        return {
          ...latencyFigures(options.rate, published, observed, percentiles),
          toBrokerAck: percentiles(toBrokerAck),
        };
      } finally {
        while (apps.length) await apps.pop()!.close();
        await sourcePool.end();
        await sinkPool.end();
        await broker_.remove().catch(() => undefined);
      }
    }),
  );
}

/** Scenario 9: relays to NATS and RabbitMQ, throughput (9a) and end-to-end latency (9b). */
export const relayScenario: Scenario = {
  name: 'relay',
  optIn: true,
  async run({ server, plan, repeat }) {
    const throughput: Array<{ broker: string; instances: number; runs: RelayThroughputRun[] }> = [];
    for (const broker of RELAY_BROKERS) {
      for (const instances of [1, 2]) {
        throughput.push({
          broker,
          instances,
          runs: await repeat(
            plan.repeats,
            `9a relay ${fmt(plan.relayEvents)} events to ${broker}, ${instances} relaying instance(s)`,
            () => relayThroughput(server, broker, instances, plan.relayEvents),
          ),
        });
      }
    }
    const latency: Array<{ broker: string; rate: number; runs: RelayLatencyFigures[] }> = [];
    for (const broker of RELAY_BROKERS) {
      for (const rate of plan.relayRates) {
        latency.push({
          broker,
          rate,
          runs: await repeat(
            plan.repeats,
            `9b end-to-end latency through ${broker} at ${rate}/s`,
            () =>
              relayLatency(server, broker, {
                rate,
                durationMs: plan.relayLatencyMs,
                maxWaitMs: plan.latencyMaxWaitMs,
              }),
          ),
        });
      }
    }
    const tables: Table[] = [];
    tables.push({
      title: `9a. Relay throughput: ${fmt(plan.relayEvents)} outbox events published to the broker`,
      note: 'Events/s from the relaying processors starting to the relay consumer’s last delivery marked processed; each publish awaits the broker’s acknowledgement (JetStream PubAck, RabbitMQ publisher confirm). Relaying instances are separate Nest apps with their own pools, in one process. Broker messages: what the stream / bound queue holds afterwards.',
      header: ['Broker', 'Relaying instances', 'Events/s', 'Broker messages'],
      rows: throughput.map((t) => [
        t.broker,
        String(t.instances),
        med(summarize(t.runs.map((r) => r.eventsPerSec))),
        fmt(median(t.runs.map((r) => r.brokerMessages))),
      ]),
    });
    tables.push({
      title: `9b. End-to-end latency through the broker at ${plan.relayRates.join(' and ')} business transactions/s`,
      note: 'Milliseconds from the publishing transaction’s COMMIT returning (app A: processor with LISTEN, one relay consumer) to the consuming handler’s transaction committing with its inbox mark (app B: IntegrationInboundModule with its default concurrency of 16, its own database). Broker ack: the first leg, from the same COMMIT to the relay’s publish acknowledged by the broker. Delivered: share of the measured events handled by the end of the wait.',
      header: [
        'Broker',
        'Rate/s',
        'Achieved/s',
        'Broker ack p50 / p99 ms',
        'p50 ms',
        'p95 ms',
        'p99 ms',
        'max ms',
        'Delivered',
      ],
      rows: latency.map((l) => {
        const p = medianPercentiles(l.runs.map((r) => r.toCommit));
        const ack = medianPercentiles(l.runs.map((r) => r.toBrokerAck));
        const delivered =
          l.runs.reduce((a, r) => a + r.delivered, 0) / l.runs.reduce((a, r) => a + r.published, 0);
        return [
          l.broker,
          String(l.rate),
          med(summarize(l.runs.map((r) => r.achievedRate))),
          `${ms(ack.p50)} / ${ms(ack.p99)}`,
          ms(p.p50),
          ms(p.p95),
          ms(p.p99),
          ms(Math.max(...l.runs.map((r) => r.toCommit.max))),
          `${fmt(delivered * 100, 1)} %`,
        ];
      }),
    });
    return { results: { relay: { throughput, latency } }, tables, checks: [] };
  },
};
