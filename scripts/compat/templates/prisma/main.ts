// Compat app (Prisma 7): publish in a transaction, handle in another module through ctx.tx, link, drain.
import 'reflect-metadata';
import { strict as assert } from 'node:assert';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Injectable, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { PrismaPg } from '@prisma/adapter-pg';
import {
  DomainEventPublisher,
  IntegrationConsumer,
  IntegrationHealthIndicator,
  IntegrationModule,
  OnIntegrationEvent,
  prismaAdapter,
  type EventsMatching,
  type HandlerContext,
} from 'nestjs-integration';
import { drainUntilIdle } from 'nestjs-integration/testing';
import { PrismaClient, type Prisma } from './generated/prisma/client.js';

const url = process.env.DATABASE_URL;
const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url }) });

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
    return prisma.$transaction(async (tx) => {
      await tx.order.create({ data: { id: orderId } });
      const event = { aggregateType: 'Order', aggregateId: orderId, payload: { orderId } };
      const id = await this.publisher.publish(tx, { name: 'orders.placed', ...event });
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
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    const orderId = event.payload.orderId;
    await ctx.tx.shipment.create({ data: { orderId } });
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
  imports: [
    IntegrationModule.forRoot({ database: prismaAdapter(prisma, { listenUrl: url }) }),
    OrdersModule,
    ShippingModule,
  ],
})
class AppModule {}

async function main(): Promise<void> {
  await prisma.$executeRawUnsafe('create table orders (id text primary key)');
  await prisma.$executeRawUnsafe('create table shipments (order_id text primary key)');
  const app = await NestFactory.createApplicationContext(AppModule, { logger: ['error', 'warn'] });
  try {
    const eventId = await app.get(OrderService).place('o-1');
    await drainUntilIdle(app);
    const shipments = await prisma.shipment.findMany();
    assert.deepEqual(shipments, [{ orderId: 'o-1' }], 'the handler wrote its effect once');
    const links = await prisma.integrationLink.findMany();
    assert.equal(links.length, 1, 'the handler wrote one link');
    assert.equal(links[0]?.targetEntityId, 'o-1', 'the link targets the shipment');
    const deliveries = await prisma.integrationDelivery.findMany({ where: { eventId } });
    assert.deepEqual(
      deliveries.map((d) => [d.consumerName, d.status]),
      [['shipping', 'processed']],
      "the shipping consumer's delivery is processed",
    );
    const outbox = await prisma.$queryRawUnsafe<{ headers: Record<string, unknown> }[]>(
      'select headers from outbox_event where id::text = $1',
      eventId,
    );
    assert.equal(outbox[0]?.headers.traceparent, undefined, 'no trace header without the API');
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
    await prisma.$disconnect();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
