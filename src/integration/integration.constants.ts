/** Injection token of the resolved module options. */
export const INTEGRATION_OPTIONS = Symbol('INTEGRATION_OPTIONS');
/** Injection token of the database adapter. */
export const INTEGRATION_DATABASE = Symbol('INTEGRATION_DATABASE');
/** Default LISTEN/NOTIFY channel. */
export const DEFAULT_NOTIFY_CHANNEL = 'integration_outbox';
/** Default name of the processor's interval in `SchedulerRegistry`. */
export const DEFAULT_PROCESSOR_INTERVAL_NAME = 'integration.outbox.poll';
/** Default name of the purge interval in `SchedulerRegistry`. */
export const DEFAULT_PURGE_INTERVAL_NAME = 'integration.outbox.purge';
/** Prefix of the consumer stats recorder's flush interval in `SchedulerRegistry` (`:` and the poll interval's name follow). */
export const DEFAULT_STATS_INTERVAL_NAME = 'integration.stats.flush';

/** Metadata key written by `@OnIntegrationEvent`. */
export const INTEGRATION_HANDLER_METADATA = 'nestjs-integration:handler';
/** Metadata key written by `@IntegrationConsumer`. */
export const INTEGRATION_CONSUMER_METADATA = 'nestjs-integration:consumer';
