// A relaying app in a process of its own, for the broker suites to SIGKILL: IntegrationModule
// (processor on, short lease) plus one IntegrationRelayModule to NATS or RabbitMQ. Plain
// CommonJS on the built package (`npm run test:brokers` builds first), so it needs no TypeScript
// at run time. Environment: DATABASE_URL, RELAY_BROKER (`nats`, the default, or `rabbitmq`),
// NATS_URL and RELAY_PREFIX (subjects `${prefix}.<event name>`), or RABBITMQ_URL and
// RELAY_EXCHANGE.
'use strict';
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { Pool } = require('pg');
const {
  IntegrationModule,
  IntegrationRelayModule,
  JitterMode,
  pgAdapter,
} = require('nestjs-integration');

function transport() {
  if (process.env.RELAY_BROKER === 'rabbitmq') {
    const { rabbitMqTransport } = require('nestjs-integration/rabbitmq');
    return rabbitMqTransport({
      url: process.env.RABBITMQ_URL,
      exchange: process.env.RELAY_EXCHANGE,
    });
  }
  const { natsTransport } = require('nestjs-integration/nats');
  const prefix = process.env.RELAY_PREFIX;
  return natsTransport({
    servers: process.env.NATS_URL,
    connection: { reconnectTimeWait: 100, name: 'relay-child' },
    subject: (name) => `${prefix}.${name}`,
  });
}

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 6 });
  pool.on('error', () => undefined);
  class RelayApp {}
  Module({
    imports: [
      IntegrationModule.forRoot({
        database: pgAdapter(pool),
        processor: {
          batchSize: 200,
          idlePollIntervalMs: 100,
          leaseMs: 2_000,
          retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 500, jitter: JitterMode.Full },
        },
      }),
      IntegrationRelayModule.forRoot({
        consumer: 'broker-relay',
        events: ['thing.*'],
        transport: transport(),
      }),
    ],
  })(RelayApp);
  const app = await NestFactory.createApplicationContext(RelayApp, { logger: ['error', 'warn'] });
  app.enableShutdownHooks();
  process.stdout.write('relay-child ready\n');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
