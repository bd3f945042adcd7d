// Compat app (Knex) WITH the optional peers installed: prom-client metrics in the app's registry,
// OpenTelemetry spans into the SDK's in-memory exporter, the health indicator inside Terminus.
import 'reflect-metadata';
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { HealthCheckService, TerminusModule } from '@nestjs/terminus';
import { SpanKind } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import knex, { type Knex } from 'knex';
import {
  DomainEventPublisher,
  IntegrationConsumer,
  IntegrationHealthIndicator,
  IntegrationModule,
  OnIntegrationEvent,
  knexAdapter,
  type EventsMatching,
  type HandlerContext,
} from 'nestjs-integration';
import { drainUntilIdle } from 'nestjs-integration/testing';
import { Registry } from 'prom-client';

const db = knex({ client: 'pg', connection: process.env.DATABASE_URL });
const registry = new Registry();
const exporter = new InMemorySpanExporter();
const tracerProvider = new BasicTracerProvider({
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});

// The optional peers are installed here: the package must find and use them.
const appRequire = createRequire(join(process.cwd(), 'package.json'));
for (const peer of ['prom-client', '@opentelemetry/api', '@nestjs/terminus']) {
  assert.doesNotThrow(() => appRequire.resolve(peer), `${peer} should be installed`);
}

declare module 'nestjs-integration' {
  interface IntegrationEventMap {
    'orders.placed': { orderId: string };
  }
}

@Injectable()
class OrderService {
  constructor(private readonly publisher: DomainEventPublisher) {}
  place(orderId: string): Promise<string> {
    return db.transaction(async (trx) => {
      await trx('orders').insert({ id: orderId });
      const event = { aggregateType: 'Order', aggregateId: orderId, payload: { orderId } };
      const id = await this.publisher.publish(trx, { name: 'orders.placed', ...event });
      // null only when an outbox.shouldEnqueue hook drops the event (none here).
      if (id === null) throw new Error('orders.placed was not enqueued');
      return id;
    });
  }
}

@Injectable()
@IntegrationConsumer('shipping', { transactional: 'batch' })
class ShippingSubscriber {
  @OnIntegrationEvent('orders.placed')
  async onPlaced(
    event: EventsMatching<'orders.*'>,
    ctx: HandlerContext<Knex.Transaction>,
  ): Promise<void> {
    const orderId = event.payload.orderId;
    await ctx.tx('shipments').insert({ order_id: orderId });
    await ctx.links.link({
      source: { module: 'orders', entityType: 'Order', entityId: orderId },
      target: { module: 'shipping', entityType: 'Shipment', entityId: orderId },
      linkType: 'reference',
    });
  }
}

@Module({
  imports: [
    IntegrationModule.forRoot({
      database: knexAdapter(db),
      metrics: { registry },
      tracing: { tracerProvider },
    }),
    TerminusModule,
  ],
  providers: [OrderService, ShippingSubscriber],
})
class AppModule {}

/** The value of one sample line of the Prometheus text, or undefined when absent. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function main(): Promise<void> {
  await db.raw('create table orders (id text primary key)');
  await db.raw('create table shipments (order_id text primary key)');
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  let eventId: string;
  let traceparent: unknown;
  try {
    eventId = await app.get(OrderService).place('o-1');
    await drainUntilIdle(app);
    const shipments = await db('shipments').select('order_id');
    assert.deepEqual(shipments, [{ order_id: 'o-1' }], 'the handler wrote its effect once');
    const links = await db('integration_link').select('source_entity_id', 'target_entity_id');
    assert.deepEqual(
      links,
      [{ source_entity_id: 'o-1', target_entity_id: 'o-1' }],
      'the handler wrote a link',
    );
    const deliveries = await db('integration_delivery')
      .where({ event_id: eventId })
      .select('consumer_name', 'status');
    assert.deepEqual(
      deliveries,
      [{ consumer_name: 'shipping', status: 'processed' }],
      "the shipping consumer's delivery is processed",
    );
    const [row] = await db('outbox_event').where({ id: eventId }).select('headers');
    traceparent = (row as { headers: Record<string, unknown> }).headers.traceparent;

    // Metrics: the app's registry holds the module's series with the workload's values.
    const text = await registry.metrics();
    assert.equal(
      sample(text, 'integration_events_published_total{event_name="orders.placed"}'),
      1,
      'one event published, in the registry passed as metrics.registry',
    );
    assert.equal(
      sample(text, 'integration_deliveries_total{consumer="shipping",outcome="processed"}'),
      1,
      'one delivery processed',
    );

    // Health: the indicator inside a real Terminus HealthCheckService.
    const health = app.get(HealthCheckService);
    const indicator = app.get(IntegrationHealthIndicator);
    const live = await health.check([() => indicator.isLive()]);
    assert.equal(live.status, 'ok', 'liveness is ok');
    const ready = await health.check([() => indicator.isReady()]);
    assert.equal(ready.status, 'ok', 'readiness is ok');
    assert.equal(ready.info?.integration?.status, 'up', "readiness's integration check is 'up'");
  } finally {
    await app.close();
    await db.destroy();
  }

  // Tracing (after close: every span has ended): producer → consumer in one trace.
  const spans = exporter.getFinishedSpans();
  const producer = spans.find((s) => s.name === 'send orders.placed');
  const consumer = spans.find((s) => s.name === 'process orders.placed');
  assert.ok(producer && consumer, `producer and consumer spans, got ${spans.map((s) => s.name)}`);
  assert.equal(producer.kind, SpanKind.PRODUCER);
  assert.equal(consumer.kind, SpanKind.CONSUMER);
  const { traceId, spanId } = producer.spanContext();
  assert.equal(traceparent, `00-${traceId}-${spanId}-01`, "the event's traceparent header");
  assert.equal(consumer.spanContext().traceId, traceId, 'one trace');
  assert.equal(
    consumer.parentSpanContext?.spanId,
    spanId,
    'the consumer is the child of the producer',
  );
  assert.equal(consumer.attributes['messaging.consumer.group.name'], 'shipping');
  await tracerProvider.shutdown();
  process.stdout.write(
    `compat app ok: Node ${process.version}, event ${eventId} processed; metrics, trace and health checked\n`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
