// A relaying app in a process of its own, for the broker suites to SIGKILL: IntegrationModule
// (processor on, short lease) plus one IntegrationRelayModule to NATS or RabbitMQ (the consumer
// `broker-relay`). Environment: DATABASE_URL and the broker's (child-boot.js).
'use strict';
const { boot, transportFromEnv } = require('./child-boot');
const {
  IntegrationModule,
  IntegrationRelayModule,
  JitterMode,
  pgAdapter,
} = require('nestjs-integration');

boot('relay-child', {
  poolSize: 6,
  imports: (pool) => [
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
      transport: transportFromEnv('relay-child'),
    }),
  ],
});
