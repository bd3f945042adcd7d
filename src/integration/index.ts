/**
 * Public API of nestjs-integration. Import everything from here; other paths are internal.
 * @packageDocumentation
 */
export { IntegrationModule } from './integration.module';
export type { IntegrationModuleExtras } from './integration.module-definition';
export {
  InjectIntegrationOptions,
  DEFAULT_PROCESSOR_RETRY,
  type IntegrationModuleOptions,
  type ResolvedIntegrationOptions,
  type NotifyOptions,
  type OutboxOptions,
  type ProcessorOptions,
  type PurgeOptions,
  type ConsumerStatsOptions,
  type HealthOptions,
  type TracingOptions,
  type ContextOptions,
  type ShouldEnqueueHook,
  type EnrichMetaHook,
} from './integration.options';
export type { TracerProviderLike } from './observability/tracing/otel-api';
export { DEFAULT_NOTIFY_CHANNEL, DEFAULT_PROCESSOR_INTERVAL_NAME } from './integration.constants';

export type {
  IntegrationDatabaseAdapter,
  SqlExecutor,
  SqlResult,
  ListenConnectionConfig,
  TransactionOptions,
  TransactionSqlExecutor,
  SavepointOptions,
  ListenOptions,
  ListenHandle,
} from './database/sql-executor';
export {
  prismaAdapter,
  type PrismaAdapterOptions,
  type PrismaClientLike,
  type PrismaTransactionLike,
} from './database/prisma.adapter';
export { knexAdapter, type KnexLike, type KnexTransactionLike } from './database/knex.adapter';
export { pgAdapter, type PgAdapterOptions } from './database/pg.adapter';

export {
  type IntegrationEventMap,
  type KnownEventName,
  type EventPayload,
  type EventsMatching,
  type NamedIntegrationEvent,
  type PatternMatches,
  type JsonValue,
  type PublishEventInput,
  type IntegrationEvent,
  type IntegrationEventHeaders,
  type OutboxEventRecord,
} from './events/integration-event';
export {
  EVENT_NAME_PATTERN,
  MAX_TEXT_FIELD_LENGTH,
  MAX_HEADERS_BYTES,
} from './events/event-validation';
export { MAX_JSON_DEPTH } from './events/json-serializer';
export { MIN_AVAILABLE_AT_MS, MAX_AVAILABLE_AT_MS } from './events/event-validation';
export { uuidv7 } from './events/uuid';

export { DomainEventPublisher, PUBLISH_CHUNK_SIZE } from './outbox/domain-event.publisher';
export {
  IntegrationContext,
  INTEGRATION_CONTEXT_CLS_KEY,
  type IntegrationContextValues,
} from './context/integration-context';
export {
  integrationContextMiddleware,
  integrationClsSetup,
} from './context/integration-context.middleware';
export {
  readRequestContext,
  type RequestContextOptions,
  type RequestLike,
  type ResponseLike,
} from './context/request-context';
export type { FindEventsByAggregateOptions } from './outbox/outbox-query.validation';
export {
  DEFAULT_CORRELATION_LIMIT,
  type FindEventsByCorrelationOptions,
} from './outbox/correlation-query.validation';
export { OutboxProcessor, ProcessorState, type DrainResult } from './processing/outbox.processor';
export {
  IntegrationHealthIndicator,
  type IntegrationHealthDetails,
  type IntegrationHealthResult,
} from './observability/integration-health.indicator';
export type { BatchResult, DeliverNowResult } from './processing/delivery-pipeline';
export {
  DeliveryStatus,
  type DeliveryRecord,
  type ClaimedDelivery,
  type DeliveryFact,
  type DeliveryFactKind,
  type SettleDecision,
} from './processing/delivery.types';
export type {
  IntegrationLifecycleEvent,
  IntegrationLifecycleEventType,
  IntegrationLifecycleObserver,
  LifecycleEventOf,
} from './processing/lifecycle-events';
export { IntegrationLifecycle } from './processing/integration-lifecycle';
export {
  DEFAULT_METRICS_PREFIX,
  type IntegrationMetricsOptions,
  type MetricsRegistry,
  type ResolvedMetricsOptions,
} from './observability/metrics/metrics.options';
export {
  INTEGRATION_METRIC_NAMES,
  type IntegrationMetricName,
} from './observability/metrics/metric-names';
export {
  IntegrationAdminService,
  type EventDeliveries,
  type DeliveryStats,
} from './admin/integration-admin.service';
export { IntegrationAdminModule } from './admin/http/integration-admin.module';
export {
  DEFAULT_ADMIN_ACTOR,
  type AdminGuard,
  type AdminHttpRequest,
  type IntegrationAdminModuleOptions,
} from './admin/http/admin-http.options';
export type {
  IntegrationAdminApi,
  AdminActor,
  BulkActionOptions,
  AdminEventFilter,
  AdminDeliveryFilter,
  PageRequest,
  Page,
  AdminEventSummary,
  AdminDeliveryView,
  AdminEventDetail,
  AdminActionResult,
  AdminActionKind,
  AdminAuditRecord,
  ConsumerThroughputPoint,
  AdminOverview,
  OverviewOptions,
  TenantOption,
  PurgeDeadLettersFilter,
} from './admin/admin.types';
export type { ReplayDeliveriesFilter } from './processing/delivery-query.validation';
export type { ConsumerDeliveryStats, ConsumerBacklog } from './processing/delivery.repository';
export {
  IntegrationRetention,
  RETENTION_LOCK_CLASS,
  type RetentionRunResult,
  type RetentionCounters,
} from './retention/integration-retention.service';
export { ConsumerDirectory } from './consumers/consumer-directory.service';
export {
  ConsumerStatus,
  CONSUMER_HOST_ALIVE_MS,
  type ConsumerInfo,
  type ConsumerHostInfo,
  type ConsumerDeliveryCounts,
  type RetireConsumerResult,
} from './consumers/consumer.types';
export type { RetireConsumerOptions } from './consumers/consumer-directory.validation';

export {
  OnIntegrationEvent,
  type IntegrationHandlerMetadata,
} from './subscribers/on-integration-event.decorator';
export {
  IntegrationConsumer,
  type IntegrationConsumerMetadata,
} from './subscribers/integration-consumer.decorator';
export {
  EventSubscriberRegistry,
  CONSUMER_NAME_PATTERN,
  type ConsumerSettings,
} from './subscribers/event-subscriber.registry';
export type {
  HandlerContext,
  HandlerOptions,
  ConsumerOptions,
  IntegrationHandlerOptions,
  HandlerDefinition,
  HandlerFor,
  RegisteredHandler,
  IntegrationEventHandlerFn,
  TransactionMode,
} from './subscribers/handler.types';
export { MAX_CONSUMER_CONCURRENCY } from './subscribers/handler.types';
export { MAX_CONFLICT_RETRIES } from './subscribers/transaction-conflict';

export { InboxService } from './inbox/inbox.service';
export {
  InboxStatus,
  type InboxRecord,
  type InboxKey,
  type RunOnceResult,
  type InboxCallOptions,
} from './inbox/inbox.types';

export {
  IntegrationLinkService,
  type BoundIntegrationLinks,
} from './links/integration-link.service';
export {
  LinkType,
  type EntityRef,
  type CreateLinkInput,
  type IntegrationLink,
  type LinkQueryOptions,
  type LinkTypeQueryOptions,
} from './links/integration-link.types';
export { MAX_LINK_METADATA_BYTES } from './links/integration-link.validation';

export type {
  IntegrationTransport,
  OutgoingMessage,
  IncomingMessage,
  IncomingMessageHandler,
  TransportSubscription,
} from './transports/integration-transport';
export { INTEGRATION_HEADERS } from './transports/transport-headers';
export { toOutgoingMessage, toIntegrationEvent } from './transports/transport-message';
export {
  InMemoryTransport,
  type StoredMessage,
  type InMemoryDeadLetter,
  type InMemoryTransportOptions,
} from './transports/in-memory.transport';
export { IntegrationRelayModule } from './transports/relay/integration-relay.module';
export { IntegrationRelay } from './transports/relay/integration-relay.service';
export type { IntegrationRelayOptions } from './transports/relay/relay.options';
export { IntegrationInboundModule } from './transports/inbound/integration-inbound.module';
export {
  IntegrationInbound,
  InboundState,
  DEFAULT_INBOUND_RETRY,
} from './transports/inbound/integration-inbound.service';
export {
  DEFAULT_INBOUND_CONCURRENCY,
  type IntegrationInboundOptions,
} from './transports/inbound/inbound.options';

export * from './errors';
export { JitterMode, type RetryPolicy } from './utils/retry';
export { MAX_TIMER_DELAY_MS } from './utils/retry';
export {
  DEFAULT_RETRY_POLICY,
  resolveRetryPolicy,
  retryAsync,
  type RetryAsyncOptions,
} from './utils/retry';
export { MAX_PURGE_AGE_MS, type PurgeArguments } from './integration.options';

export {
  DEFAULT_INTEGRATION_SCHEMA,
  SCHEMA_NAME_PATTERN,
  validateSchemaName,
} from './database/schema-name';
export {
  integrationTablesSql,
  listIntegrationMigrations,
  type IntegrationMigration,
  type IntegrationMigrationOptions,
} from './database/integration-migrations';
export {
  migrateIntegrationTables,
  integrationMigrationStatus,
  MIGRATIONS_TABLE,
  type MigrateIntegrationTablesOptions,
  type MigrationClientLike,
  type MigrateResult,
  type MigrationStatus,
  type MigrationStatusEntry,
} from './database/migration-runner';
export {
  enableRowLevelSecurity,
  disableRowLevelSecurity,
  rowLevelSecuritySql,
  disableRowLevelSecuritySql,
  TENANT_POLICY,
  type RowLevelSecurityOptions,
} from './database/row-level-security';
export { TENANT_SETTING } from './database/tenant-session';
export {
  integrationMigrationSource,
  integrationKnexMigration,
  type KnexRawLike,
  type IntegrationKnexMigration,
  type IntegrationKnexMigrationSource,
} from './database/knex-migration-source';
export { integrationPrismaModels } from './database/prisma-fragment';
