import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { ScheduleModule } from '@nestjs/schedule';
import { IntegrationSchemaVerifier } from './database/integration-schema.verifier';
import { InboxRepository } from './inbox/inbox.repository';
import { InboxService } from './inbox/inbox.service';
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
import { IntegrationLinkRepository } from './links/integration-link.repository';
import { IntegrationLinkService } from './links/integration-link.service';
import { EventSubscriberExplorer } from './subscribers/event-subscriber.explorer';
import { EventSubscriberRegistry } from './subscribers/event-subscriber.registry';
import { SubscriberDispatcher } from './subscribers/subscriber.dispatcher';

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
  imports: [ScheduleModule.forRoot(), DiscoveryModule],
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
      useFactory: (
        options: ResolvedIntegrationOptions,
        subscribers: SubscriberDispatcher,
      ): EventDispatcher => options.dispatcher ?? subscribers,
      inject: [INTEGRATION_OPTIONS, SubscriberDispatcher],
    },
    IntegrationSchemaVerifier,
    OutboxRepository,
    DomainEventPublisher,
    OutboxProcessor,
    EventSubscriberRegistry,
    EventSubscriberExplorer,
    SubscriberDispatcher,
    InboxRepository,
    InboxService,
    IntegrationLinkRepository,
    IntegrationLinkService,
  ],
  exports: [
    INTEGRATION_OPTIONS,
    INTEGRATION_DATABASE,
    DomainEventPublisher,
    OutboxProcessor,
    EventSubscriberRegistry,
    SubscriberDispatcher,
    InboxService,
    IntegrationLinkService,
  ],
})
export class IntegrationModule extends ConfigurableIntegrationModule {}
