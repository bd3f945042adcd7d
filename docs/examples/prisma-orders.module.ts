// docs/examples/prisma-orders.module.ts — compiled by `npm run build`; shown in docs/getting-started.md.
import { Injectable, Module } from '@nestjs/common';
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient, type Prisma } from '../../src/generated/prisma/client';
import {
  DomainEventPublisher,
  IntegrationConsumer,
  IntegrationModule,
  OnIntegrationEvent,
  prismaAdapter,
  type EventsMatching,
  type HandlerContext,
} from 'nestjs-integration';

// 1. Describe your events once: publish() and handlers get the payload types by name.
declare module 'nestjs-integration' {
  interface IntegrationEventMap {
    'ledger.entry-recorded': { ownerId: string; currency: string; amountMinor: string };
  }
}

// 2. Your Prisma client (Prisma 7 with the pg driver adapter).
@Injectable()
export class PrismaService extends PrismaClient {
  constructor() {
    super({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) });
  }
}

// 3. Publish inside the transaction of the business write: the event exists iff the write committed.
@Injectable()
export class LedgerService {
  constructor(
    private readonly prisma: PrismaService,
    private readonly publisher: DomainEventPublisher,
  ) {}

  async record(ownerId: string, amountMinor: bigint): Promise<string | null> {
    return this.prisma.$transaction(async (tx) => {
      await tx.vaultLedger.upsert({
        where: { ownerId_currency: { ownerId, currency: 'EUR' } },
        create: { ownerId, currency: 'EUR', balanceMinor: amountMinor },
        update: { balanceMinor: { increment: amountMinor } },
      });
      return this.publisher.publish(tx, {
        name: 'ledger.entry-recorded',
        aggregateType: 'Ledger',
        aggregateId: ownerId,
        payload: { ownerId, currency: 'EUR', amountMinor: amountMinor.toString() },
      });
    });
  }
}

// 4. Handle it in another module: one consumer per class, its options given once; effects
//    written through ctx.tx commit with the processed mark. EventsMatching<'ledger.*'> is the union
//    of the map's ledger.* events: `event.name` narrows `event.payload`, no casts.
@Injectable()
@IntegrationConsumer('statements', { retry: { maxAttempts: 5 } })
export class StatementSubscriber {
  @OnIntegrationEvent('ledger.*')
  async onLedgerEvent(
    event: EventsMatching<'ledger.*'>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    ctx.logger.log(`statement line for ${event.payload.ownerId}: ${event.payload.amountMinor}`);
    await ctx.links.link({
      source: { module: 'statements', entityType: 'StatementLine', entityId: event.id },
      target: { module: 'ledger', entityType: 'Ledger', entityId: event.payload.ownerId },
      linkType: 'reference',
    });
  }
}

// 5. Wire it: the integration module takes the Prisma client through the adapter.
@Module({ providers: [PrismaService], exports: [PrismaService] })
export class PrismaModule {}

@Module({
  imports: [
    PrismaModule,
    IntegrationModule.forRootAsync({
      imports: [PrismaModule],
      inject: [PrismaService],
      useFactory: (prisma: PrismaService) => ({
        // listenUrl: a direct connection for LISTEN/NOTIFY wake-ups (polling works without it).
        database: prismaAdapter(prisma, { listenUrl: process.env.DATABASE_URL }),
        processor: { batchSize: 100, idlePollIntervalMs: 1_000 },
      }),
    }),
  ],
  providers: [LedgerService, StatementSubscriber],
})
export class OrdersAppModule {}
