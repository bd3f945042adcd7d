// A relaying app in a process of its own, for the broker suites to SIGKILL: IntegrationModule
// (processor on, short lease) plus one IntegrationRelayModule to NATS. Plain CommonJS on the
// built package (`npm run test:brokers` builds first), so it needs no TypeScript at run time.
// Environment: DATABASE_URL, NATS_URL, RELAY_PREFIX (subjects `${prefix}.<event name>`).
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
const { natsTransport } = require('nestjs-integration/nats');

async function main() {
  const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: 6 });
  pool.on('error', () => undefined);
  const prefix = process.env.RELAY_PREFIX;
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
        consumer: 'nats-relay',
        events: ['thing.*'],
        transport: natsTransport({
          servers: process.env.NATS_URL,
          connection: { reconnectTimeWait: 100, name: 'relay-child' },
          subject: (name) => `${prefix}.${name}`,
        }),
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
