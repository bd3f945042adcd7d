import { Injectable, Module, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ClsPluginTransactional, Transactional, TransactionHost } from '@nestjs-cls/transactional';
import { TransactionalAdapterPrisma } from '@nestjs-cls/transactional-adapter-prisma';
import { ClsModule } from 'nestjs-cls';
import {
  DomainEventPublisher,
  IntegrationAdminService,
  IntegrationConsumer,
  IntegrationModule,
  OnIntegrationEvent,
  integrationClsSetup,
  integrationContextMiddleware,
  prismaAdapter,
  type EventsMatching,
} from 'nestjs-integration';
import { PrismaClient } from '../../src/generated/prisma/client';

declare module 'nestjs-integration' {
  interface IntegrationEventMap {
    'shop.order-placed': { orderId: string };
    'shop.invoice-requested': { orderId: string };
  }
}

// 1. Requests run in nestjs-cls; its middleware stores the request's integration context:
//    tenant from X-Tenant-Id, correlation id from X-Correlation-Id (else traceparent's trace
//    id, else generated), echoed on the response. Commands use @Transactional() through the
//    Prisma adapter, and the integration module joins those transactions. (PrismaClient is
//    provided by the app's database module.)
@Module({
  imports: [
    ClsModule.forRoot({
      global: true,
      middleware: {
        mount: true,
        setup: integrationClsSetup({ generateCorrelationId: true, actorHeader: 'x-user-id' }),
      },
      plugins: [
        new ClsPluginTransactional({
          adapter: new TransactionalAdapterPrisma({ prismaInjectionToken: PrismaClient }),
        }),
      ],
    }),
    IntegrationModule.forRootAsync({
      inject: [PrismaClient],
      useFactory: (prisma: PrismaClient) => ({
        database: prismaAdapter(prisma),
        context: { transactional: true },
        outbox: {
          // Events of the demo tenant are never written.
          shouldEnqueue: (_event, context) => context.tenantId !== 'demo',
          // Headers the context does not cover; the caller's own headers win.
          enrichMeta: () => ({ release: process.env.RELEASE ?? 'dev' }),
        },
      }),
    }),
  ],
})
export class ShopCoreModule {}

// 2. A command: the business write and its event in one @Transactional() method. The event
//    gets the request's tenant, correlation id and actor without passing them.
@Injectable()
export class OrderService {
  constructor(
    private readonly txHost: TransactionHost<TransactionalAdapterPrisma>,
    private readonly publisher: DomainEventPublisher,
  ) {}

  @Transactional()
  async place(orderId: string): Promise<string | null> {
    await this.txHost.tx.$executeRaw`INSERT INTO shop_order (id) VALUES (${orderId})`;
    return this.publisher.publish({
      name: 'shop.order-placed',
      aggregateType: 'Order',
      aggregateId: orderId,
      payload: { orderId },
    });
  }
}

// 3. A handler runs in its event's context with ctx.tx as the ambient transaction: what it
//    publishes (or writes through @Transactional() services) commits with the delivery, and
//    carries the same correlation id with the handled event as causation.
@Injectable()
@IntegrationConsumer('billing')
export class BillingSubscriber {
  constructor(private readonly publisher: DomainEventPublisher) {}

  @OnIntegrationEvent('shop.order-placed')
  async onPlaced(event: EventsMatching<'shop.order-placed'>): Promise<void> {
    await this.publisher.publish({
      name: 'shop.invoice-requested',
      aggregateType: 'Order',
      aggregateId: event.payload.orderId,
      payload: { orderId: event.payload.orderId },
    });
  }
}

// 4. Everything one request caused, in publish order (the tenant defaults to the context's).
@Injectable()
export class OrderHistory {
  constructor(private readonly admin: IntegrationAdminService) {}

  async caused(correlationId: string) {
    return this.admin.findEventsByCorrelation(correlationId);
  }
}

// Without nestjs-cls: the module's own AsyncLocalStorage, set by its middleware.
@Module({ imports: [ShopCoreModule] })
export class ShopWithoutClsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(integrationContextMiddleware({ generateCorrelationId: true })).forRoutes('*');
  }
}
