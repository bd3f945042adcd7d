import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import {
  INTEGRATION_DATABASE,
  INTEGRATION_OPTIONS,
  OUTBOX_DISPATCHER,
} from './integration.constants';
import {
  ConfigurableIntegrationModule,
  RAW_INTEGRATION_OPTIONS,
} from './integration.module-definition';
import {
  resolveOptions,
  type IntegrationModuleOptions,
  type ResolvedIntegrationOptions,
} from './integration.options';
import { DomainEventPublisher } from './outbox/domain-event.publisher';
import type { EventDispatcher } from './outbox/event-dispatcher';
import { OutboxProcessor } from './outbox/outbox.processor';
import { OutboxRepository } from './outbox/outbox.repository';

/** Until subscribers are registered, every event is settled as processed (no consumer). */
const noConsumerDispatcher: EventDispatcher = {
  dispatchBatch: async (events) => events.map(() => ({ status: 'processed' as const })),
};

/**
 * Reliable integration events on PostgreSQL: outbox publisher, processor, subscribers, inbox and
 * links. Configure once at the root:
 *
 * ```ts
 * IntegrationModule.forRoot({ database: prismaAdapter(prisma, { listenUrl: process.env.DATABASE_URL }) })
 * IntegrationModule.forRootAsync({ inject: [PrismaService], useFactory: (p) => ({ database: prismaAdapter(p) }) })
 * ```
 *
 * Options are validated at bootstrap: an invalid field fails the app with
 * `InvalidIntegrationOptionsError` naming it. Global by default (`isGlobal: false` to opt out).
 */
@Module({
  imports: [ScheduleModule.forRoot()],
  providers: [
    {
      provide: INTEGRATION_OPTIONS,
      useFactory: (raw: IntegrationModuleOptions) => resolveOptions(raw),
      inject: [RAW_INTEGRATION_OPTIONS],
    },
    {
      provide: INTEGRATION_DATABASE,
      useFactory: (options: ResolvedIntegrationOptions) => options.database,
      inject: [INTEGRATION_OPTIONS],
    },
    {
      provide: OUTBOX_DISPATCHER,
      useFactory: (options: ResolvedIntegrationOptions): EventDispatcher =>
        options.dispatcher ?? noConsumerDispatcher,
      inject: [INTEGRATION_OPTIONS],
    },
    OutboxRepository,
    DomainEventPublisher,
    OutboxProcessor,
  ],
  exports: [INTEGRATION_OPTIONS, INTEGRATION_DATABASE, DomainEventPublisher, OutboxProcessor],
})
export class IntegrationModule extends ConfigurableIntegrationModule {}
