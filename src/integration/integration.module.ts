import { Module, type DynamicModule } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { IntegrationSchemaVerifier } from './database/integration-schema.verifier';
import { IntegrationTables } from './database/integration-tables';
import { InvalidIntegrationOptionsError } from './errors/invalid-options.error';
import { InboxRepository } from './inbox/inbox.repository';
import { InboxService } from './inbox/inbox.service';
import { INTEGRATION_DATABASE, INTEGRATION_OPTIONS } from './integration.constants';
import {
  ConfigurableIntegrationModule,
  RAW_INTEGRATION_OPTIONS,
  type INTEGRATION_ASYNC_OPTIONS_TYPE,
  type INTEGRATION_OPTIONS_TYPE,
} from './integration.module-definition';
import {
  resolveOptions,
  type IntegrationModuleOptions,
  type ResolvedIntegrationOptions,
} from './integration.options';
import { DomainEventPublisher } from './outbox/domain-event.publisher';
import { OutboxRepository } from './outbox/outbox.repository';
import { IntegrationLinkRepository } from './links/integration-link.repository';
import { IntegrationLinkService } from './links/integration-link.service';
import { EventSubscriberExplorer } from './subscribers/event-subscriber.explorer';
import { EventSubscriberRegistry } from './subscribers/event-subscriber.registry';
import { ConsumerDirectoryRepository } from './consumers/consumer-directory.repository';
import { ConsumerDirectory } from './consumers/consumer-directory.service';
import { IntegrationAdminService } from './admin/integration-admin.service';
import { DeliveryMark } from './processing/delivery-mark';
import { DeliveryPipeline } from './processing/delivery-pipeline';
import { KeyRunLimits } from './processing/key-run-limits';
import { TenantCursors } from './processing/tenant-cursors';
import { OutboxProcessor } from './processing/outbox.processor';
import { TableStatistics } from './processing/table-statistics';
import { BacklogSnapshot } from './observability/backlog-snapshot';
import { IntegrationHealthIndicator } from './observability/integration-health.indicator';
import {
  IntegrationMetrics,
  PROM_CLIENT_LOADER,
} from './observability/metrics/integration-metrics.service';
import { DeliveryRepository } from './processing/delivery.repository';
import { EventSequencer } from './processing/event-sequencer.repository';
import { HandlerInvoker } from './processing/handler-invoker';
import { AmbientTransactions } from './context/ambient-transactions';
import { CorrelationRepository } from './outbox/correlation.repository';
import { IntegrationContext } from './context/integration-context';
import { TenantSession } from './database/tenant-session';
import { IntegrationTracing } from './observability/tracing/integration-tracing';
import { IntegrationLifecycle } from './processing/integration-lifecycle';
import { BatchRunner } from './processing/runners/batch.runner';
import { ConsumerRunners } from './processing/runners/consumer-runners';
import { PerEventRunner } from './processing/runners/per-event.runner';
import { UntransactedRunner } from './processing/runners/untransacted.runner';
import { SettlePolicy } from './processing/settle-policy';
import { ConsumerStatsRecorder } from './retention/consumer-stats.recorder';
import { ConsumerStatsRepository } from './retention/consumer-stats.repository';
import { IntegrationRetention } from './retention/integration-retention.service';
import { RetentionRepository } from './retention/retention.repository';

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
 *
 * The module never imports `ScheduleModule.forRoot()` (a second one would run the app's own
 * `@Interval`/`@Cron` jobs twice). When the app imports it, the processor's intervals are
 * registered in the app's `SchedulerRegistry`; otherwise the processor keeps its own timers.
 */
@Module({
  imports: [DiscoveryModule],
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
      provide: IntegrationTables,
      useFactory: (options: ResolvedIntegrationOptions) => new IntegrationTables(options.schema),
      inject: [INTEGRATION_OPTIONS],
    },
    {
      provide: TenantSession,
      useFactory: (options: ResolvedIntegrationOptions) =>
        new TenantSession(options.database, options.rowLevelSecurity),
      inject: [INTEGRATION_OPTIONS],
    },
    IntegrationSchemaVerifier,
    OutboxRepository,
    CorrelationRepository,
    DomainEventPublisher,
    EventSubscriberRegistry,
    EventSubscriberExplorer,
    InboxRepository,
    InboxService,
    IntegrationLinkRepository,
    IntegrationLinkService,
    // Delivery: consumers known cluster-wide, sequencer, claim, runners, settle, lifecycle.
    ConsumerDirectoryRepository,
    ConsumerDirectory,
    EventSequencer,
    DeliveryRepository,
    DeliveryMark,
    IntegrationContext,
    AmbientTransactions,
    IntegrationTracing,
    HandlerInvoker,
    BatchRunner,
    PerEventRunner,
    UntransactedRunner,
    ConsumerRunners,
    SettlePolicy,
    IntegrationLifecycle,
    KeyRunLimits,
    TenantCursors,
    TableStatistics,
    BacklogSnapshot,
    // Metrics (only when the metrics option is given): prom-client loaded at start-up by require.
    { provide: PROM_CLIENT_LOADER, useValue: require },
    IntegrationMetrics,
    DeliveryPipeline,
    // Retention (one instance at a time) and the per-minute stats recorder, run by the processor.
    RetentionRepository,
    IntegrationRetention,
    ConsumerStatsRepository,
    ConsumerStatsRecorder,
    OutboxProcessor,
    IntegrationAdminService,
    IntegrationHealthIndicator,
  ],
  exports: [
    INTEGRATION_OPTIONS,
    INTEGRATION_DATABASE,
    IntegrationTables,
    DomainEventPublisher,
    EventSubscriberRegistry,
    InboxService,
    IntegrationLinkService,
    ConsumerDirectory,
    IntegrationLifecycle,
    OutboxProcessor,
    IntegrationAdminService,
    IntegrationRetention,
    IntegrationHealthIndicator,
    IntegrationContext,
    TenantSession,
    // For IntegrationInboundModule: broker messages run the same handlers, the same way, and
    // their consumer spans end when the message is settled.
    HandlerInvoker,
    IntegrationTracing,
  ],
})
export class IntegrationModule extends ConfigurableIntegrationModule {
  /**
   * Configures the module with an options object.
   * @throws InvalidIntegrationOptionsError when `options` is not an object (e.g. `undefined`).
   */
  static override forRoot(options: typeof INTEGRATION_OPTIONS_TYPE): DynamicModule {
    // Nest's builder would fail with a bare TypeError on `undefined` / `null`.
    if (typeof options !== 'object' || options === null) {
      throw new InvalidIntegrationOptionsError([
        `IntegrationModule.forRoot() needs an options object such as { database: prismaAdapter(prisma) } (got ${String(options)})`,
      ]);
    }
    return super.forRoot(options);
  }

  /**
   * Configures the module from a factory (`useFactory` + `inject`), `useClass` or `useExisting`.
   * @throws InvalidIntegrationOptionsError when `options` is not an object (e.g. `undefined`).
   */
  static override forRootAsync(options: typeof INTEGRATION_ASYNC_OPTIONS_TYPE): DynamicModule {
    if (typeof options !== 'object' || options === null) {
      throw new InvalidIntegrationOptionsError([
        `IntegrationModule.forRootAsync() needs an object such as { inject: [PrismaService], useFactory: (prisma) => ({ database: prismaAdapter(prisma) }) } (got ${String(options)})`,
      ]);
    }
    return super.forRootAsync(options);
  }
}
