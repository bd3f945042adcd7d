// Compat app (Knex): publish in a transaction, handle in another module through ctx.tx, link, drain.
import 'reflect-metadata';
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
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

const db = knex({ client: 'pg', connection: process.env.DATABASE_URL });

// Issue 14: the optional peers are absent here, and the package must load and work without them.
const appRequire = createRequire(join(process.cwd(), 'package.json'));
for (const peer of ['prom-client', '@opentelemetry/api', '@nestjs/terminus']) {
  assert.throws(
    () => appRequire.resolve(peer),
    /Cannot find module/,
    `${peer} must not be installed in this app`,
  );
}

// The event map augmentation reaches the packed type declarations.
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
@Module({ providers: [OrderService], exports: [OrderService] })
class OrdersModule {}

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
@Module({ providers: [ShippingSubscriber] })
class ShippingModule {}

@Module({
  imports: [IntegrationModule.forRoot({ database: knexAdapter(db) }), OrdersModule, ShippingModule],
})
class AppModule {}

async function main(): Promise<void> {
  await db.raw('create table orders (id text primary key)');
  await db.raw('create table shipments (order_id text primary key)');
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  try {
    const eventId = await app.get(OrderService).place('o-1');
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
    const [outbox] = await db('outbox_event').where({ id: eventId }).select('headers');
    const headers = (outbox as { headers: Record<string, unknown> }).headers;
    assert.equal(headers.traceparent, undefined, 'no trace header without @opentelemetry/api');
    const health = app.get(IntegrationHealthIndicator);
    const live = await health.isLive();
    assert.equal(live.integration.status, 'up', 'liveness is up without @nestjs/terminus');
    const ready = await health.isReady();
    assert.equal(ready.integration.status, 'up', `readiness is up: ${JSON.stringify(ready)}`);
    process.stdout.write(
      `compat app ok: Node ${process.version}, event ${eventId} processed, ready without the optional peers\n`,
    );
  } finally {
    await app.close();
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
