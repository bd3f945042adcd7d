/**
 * The module's Prometheus metrics, by role; the exported name is `metrics.prefix` (default
 * `integration_`) followed by this. docs/observability.md describes each one.
 */
export const INTEGRATION_METRIC_NAMES = {
  /** Counter, label `event_name`: events written to the outbox by `publish*` calls. */
  eventsPublished: 'events_published_total',
  /** Counter: committed events the sequencer fanned out to their consumers. */
  eventsSequenced: 'events_sequenced_total',
  /** Counter: claims that leased at least one delivery. */
  claims: 'claims_total',
  /** Histogram: deliveries leased per claim. */
  claimBatchSize: 'claim_batch_size',
  /** Counter, labels `consumer`, `outcome` (processed, retried, dead_lettered, released). */
  deliveries: 'deliveries_total',
  /** Histogram (seconds), label `consumer`: how long a consumer's handlers ran for a delivery. */
  handlerDuration: 'handler_duration_seconds',
  /** Histogram (seconds), label `consumer`: from the event's outbox row to its processed settle. */
  timeInOutbox: 'time_in_outbox_seconds',
  /** Counter, label `consumer`: settles or marks that found this instance's lease gone. */
  leaseLosses: 'lease_losses_total',
  /** Gauge 0/1: this instance's LISTEN connection is up. */
  listenerConnected: 'listener_connected',
  /** Gauge, labels `consumer`, `status` (pending, processing): deliveries waiting or leased. */
  backlog: 'backlog',
  /** Gauge, label `consumer`: dead letters waiting for a replay or a discard. */
  deadLetters: 'dead_letters',
  /** Gauge (seconds), label `consumer`: how long the longest-waiting due delivery has been due. */
  oldestDueAge: 'oldest_due_age_seconds',
} as const;

/** The role of one of the module's metrics (a key of {@link INTEGRATION_METRIC_NAMES}). */
export type IntegrationMetricName = keyof typeof INTEGRATION_METRIC_NAMES;
