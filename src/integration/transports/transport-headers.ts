/**
 * Names of the message headers that carry an event's fields across a broker. The event's own
 * headers (`correlationId`, `causationId`, `traceparent`, `actor`, custom ones) travel under
 * their own names next to these.
 */
export const INTEGRATION_HEADERS = Object.freeze({
  /**
   * The event id, also the message id: a message replayed under a new broker id (JetStream
   * drops a reused `Nats-Msg-Id` within its duplicate window) keeps its inbox key.
   */
  eventId: 'integration-event-id',
  eventName: 'integration-event-name',
  eventVersion: 'integration-event-version',
  aggregateType: 'integration-aggregate-type',
  aggregateId: 'integration-aggregate-id',
  orderingKey: 'integration-ordering-key',
  sourceModule: 'integration-source-module',
  tenantId: 'integration-tenant-id',
  correlationId: 'integration-correlation-id',
  causationId: 'integration-causation-id',
  idempotencyKey: 'integration-idempotency-key',
  createdAt: 'integration-created-at',
  /** On dead letters: the last handler error. */
  error: 'integration-error',
  /** On dead letters: deliveries made before it was dead-lettered. */
  deliveries: 'integration-deliveries',
  /** On dead letters: where the message arrived. */
  originalSubject: 'integration-original-subject',
  /** On dead letters: when it was dead-lettered (ISO 8601). */
  deadLetteredAt: 'integration-dead-lettered-at',
});
