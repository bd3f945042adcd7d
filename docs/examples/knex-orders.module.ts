// docs/examples/knex-orders.module.ts — compiled by `npm run build`; shown in docs/getting-started.md.
import { Inject, Injectable, Module } from '@nestjs/common';
import knexFactory, { type Knex } from 'knex';
import {
  DomainEventPublisher,
  IntegrationConsumer,
  IntegrationModule,
  OnIntegrationEvent,
  knexAdapter,
  type HandlerContext,
  type IntegrationEvent,
} from 'nestjs-integration';

export const KNEX = Symbol('KNEX');

@Injectable()
export class OrderService {
  constructor(
    @Inject(KNEX) private readonly knex: Knex,
    private readonly publisher: DomainEventPublisher,
  ) {}

  /** The order row and its event commit together, or neither does. */
  async place(orderId: string, total: number): Promise<void> {
    await this.knex.transaction(async (trx) => {
      await trx('orders').insert({ id: orderId, total });
      await this.publisher.publish(trx, {
        name: 'orders.placed',
        aggregateType: 'Order',
        aggregateId: orderId,
        payload: { orderId, total },
        idempotencyKey: `place:${orderId}`,
      });
    });
  }
}

// One consumer per class: its settings (transactional, retry, concurrency) are given once here.
@Injectable()
@IntegrationConsumer('shipping')
export class ShippingSubscriber {
  @OnIntegrationEvent('orders.placed')
  async onPlaced(
    event: IntegrationEvent<{ orderId: string }>,
    ctx: HandlerContext<Knex.Transaction>,
  ): Promise<void> {
    // Same transaction as the delivery's processed mark: exactly-once even when delivered twice.
    await ctx.tx('shipments').insert({ order_id: event.payload.orderId });
  }
}

@Module({
  providers: [
    {
      provide: KNEX,
      useFactory: () => knexFactory({ client: 'pg', connection: process.env.DATABASE_URL }),
    },
  ],
  exports: [KNEX],
})
export class KnexModule {}

@Module({
  imports: [
    KnexModule,
    IntegrationModule.forRootAsync({
      imports: [KnexModule],
      inject: [KNEX],
      useFactory: (knex: Knex) => ({ database: knexAdapter(knex) }),
    }),
  ],
  providers: [OrderService, ShippingSubscriber],
})
export class KnexOrdersAppModule {}
