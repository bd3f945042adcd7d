// A consuming app in a process of its own, for the broker suites to SIGKILL: IntegrationModule
// (processor off) plus IntegrationInboundModule from NATS or RabbitMQ into the consumer
// `projection` (default concurrency), whose handler writes one row per event in its
// transaction. Environment: DATABASE_URL, EFFECT_TABLE and the broker's (child-boot.js).
'use strict';
const { boot, transportFromEnv } = require('./child-boot');
const {
  EventSubscriberRegistry,
  IntegrationInboundModule,
  IntegrationModule,
  JitterMode,
  pgAdapter,
} = require('nestjs-integration');

const table = process.env.EFFECT_TABLE;

boot('consumer-child', {
  // One connection per message handled at once (default concurrency 16), and a spare.
  poolSize: 17,
  imports: (pool) => [
    IntegrationModule.forRoot({ database: pgAdapter(pool), processor: { enabled: false } }),
    IntegrationInboundModule.forRoot({
      transport: transportFromEnv('consumer-child', { inbound: true }),
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
});
