// Shared boot code of the broker suites' child processes (relay-child.js, consumer-child.js):
// the transport for RELAY_BROKER from the environment, a pg pool, and the Nest application
// context that says `<name> ready` on stdout once it runs. Plain CommonJS on the built package
// (`npm run test:brokers` builds first), so it needs no TypeScript at run time.
//
// Environment: RELAY_BROKER (`nats`, the default, or `rabbitmq`); for NATS: NATS_URL,
// RELAY_PREFIX (subjects `${prefix}.<event name>`) and, inbound, INBOUND_STREAM and
// DEAD_LETTER_PREFIX; for RabbitMQ: RABBITMQ_URL, RELAY_EXCHANGE and, inbound, INBOUND_QUEUE.
'use strict';
require('reflect-metadata');
const { Module } = require('@nestjs/common');
const { NestFactory } = require('@nestjs/core');
const { Pool } = require('pg');

/** The transport of this child: relaying only, or with the inbound side. */
function transportFromEnv(name, { inbound = false } = {}) {
  if (process.env.RELAY_BROKER === 'rabbitmq') {
    const { rabbitMqTransport } = require('nestjs-integration/rabbitmq');
    return rabbitMqTransport({
      url: process.env.RABBITMQ_URL,
      exchange: process.env.RELAY_EXCHANGE,
      ...(inbound ? { inbound: { queue: process.env.INBOUND_QUEUE, bindings: ['thing.*'] } } : {}),
    });
  }
  const { natsTransport } = require('nestjs-integration/nats');
  const prefix = process.env.RELAY_PREFIX;
  const deadLetterPrefix = process.env.DEAD_LETTER_PREFIX;
  return natsTransport({
    servers: process.env.NATS_URL,
    connection: { reconnectTimeWait: 100, name },
    subject: (eventName) => `${prefix}.${eventName}`,
    ...(inbound
      ? {
          inbound: {
            stream: process.env.INBOUND_STREAM,
            durable: 'projection',
            // A message in flight when the connection drops (or the child dies) comes back after this.
            ackWaitMs: 2_000,
            deadLetterSubject: (subject) => `${deadLetterPrefix}.${subject}`,
          },
        }
      : {}),
  });
}

/**
 * Boots a Nest application context of the `imports(pool)` and `providers`, with shutdown hooks,
 * then writes `<name> ready`; a failure exits with code 1.
 */
function boot(name, { poolSize, imports, providers = [] }) {
  (async () => {
    const pool = new Pool({ connectionString: process.env.DATABASE_URL, max: poolSize });
    pool.on('error', () => undefined);
    class ChildApp {}
    Module({ imports: imports(pool), providers })(ChildApp);
    const app = await NestFactory.createApplicationContext(ChildApp, {
      logger: ['error', 'warn'],
    });
    app.enableShutdownHooks();
    process.stdout.write(`${name} ready\n`);
  })().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

module.exports = { boot, transportFromEnv };
