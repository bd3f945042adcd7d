// A consuming app in a process of its own, for the broker suites to SIGKILL: IntegrationModule
// (processor off) plus IntegrationInboundModule from NATS or RabbitMQ into the consumer
// `projection`, whose handler writes one row per event in its transaction. Plain CommonJS on the
// built package (`npm run test:brokers` builds first). Environment: DATABASE_URL, EFFECT_TABLE,
// RELAY_BROKER (`nats`, the default, or `rabbitmq`), NATS_URL, INBOUND_STREAM and
// DEAD_LETTER_PREFIX, or RABBITMQ_URL, RELAY_EXCHANGE and INBOUND_QUEUE.
'use strict';
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { Pool } = require('pg');
const {
  EventSubscriberRegistry,
  IntegrationInboundModule,
  IntegrationModule,
  JitterMode,
  pgAdapter,
} = require('nestjs-integration');

function transport() {
  if (process.env.RELAY_BROKER === 'rabbitmq') {
    const { rabbitMqTransport } = require('nestjs-integration/rabbitmq');
    return rabbitMqTransport({
      url: process.env.RABBITMQ_URL,
      exchange: process.env.RELAY_EXCHANGE,
      inbound: { queue: process.env.INBOUND_QUEUE, bindings: ['thing.*'] },
    });
  }
  const { natsTransport } = require('nestjs-integration/nats');
  const prefix = process.env.DEAD_LETTER_PREFIX;
  return natsTransport({
    servers: process.env.NATS_URL,
    connection: { reconnectTimeWait: 100, name: 'consumer-child' },
    inbound: {
      stream: process.env.INBOUND_STREAM,
      durable: 'projection',
      ackWaitMs: 2_000,
      deadLetterSubject: (subject) => `${prefix}.${subject}`,
    },
  });
}

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  pool.on('error', () => undefined);
  const table = process.env.EFFECT_TABLE;
  class ConsumerApp {}
  Module({
    imports: [
      IntegrationModule.forRoot({ database: pgAdapter(pool), processor: { enabled: false } }),
      IntegrationInboundModule.forRoot({
        transport: transport(),
        consumers: ['projection'],
        retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 100, jitter: JitterMode.None },
      }),
    ],
    providers: [
      {
        // Registered while the module initialises, before the inbound module subscribes.
        provide: 'projection',
        inject: [EventSubscriberRegistry],
        useFactory: (registry) => {
          registry.registerConsumer('projection');
          registry.register({
            consumer: 'projection',
            pattern: 'thing.*',
            name: 'projection.onThing',
            handle: (event, ctx) =>
              ctx.tx.query(`insert into ${table} (event_id, key, n) values ($1, $2, $3)`, [
                event.id,
                event.payload.key,
                event.payload.n,
              ]),
          });
          return registry;
        },
      },
    ],
  })(ConsumerApp);
  const app = await NestFactory.createApplicationContext(ConsumerApp, {
    logger: ['error', 'warn'],
  });
  app.enableShutdownHooks();
  process.stdout.write('consumer-child ready\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
