import type { ClaimedDelivery, DeliveryFact, SettleDecision } from './delivery.types';

/**
 * Everything the delivery pipeline reports, one member per stage. Metrics, tracing, health and
 * the dashboard listen to these instead of reaching into the pipeline. Each event is a plain
 * object whose `type` names it; the pipeline never waits for an observer and never lets an
 * observer's exception reach the delivery (it is logged once per observer and event type).
 */
export type IntegrationLifecycleEvent =
  /** The processor started (after LISTEN, if any, is up). */
  | { readonly type: 'processor.started'; readonly workerId: string }
  /** The processor stopped: nothing of it runs any more. */
  | { readonly type: 'processor.stopped'; readonly workerId: string }
  /**
   * Events were written to the outbox (`names`: one per event, in input order, an event
   * skipped on an idempotency key already published included; `tenants`: their tenants, in the
   * same order, null for an event without one). `committed`: false when they were written in
   * the caller's transaction, which may still roll back; true when this call committed them
   * (`publishAndCommit`, `publishStandalone`).
   */
  | {
      readonly type: 'events.published';
      readonly names: readonly string[];
      readonly tenants: readonly (string | null)[];
      readonly committed: boolean;
    }
  /** The sequencer fanned out committed events to their consumers. */
  | {
      readonly type: 'events.sequenced';
      readonly events: number;
      readonly deliveries: number;
    }
  /** A batch of deliveries was claimed (`deliveries` in commit order). */
  | {
      readonly type: 'deliveries.claimed';
      readonly workerId: string;
      readonly deliveries: readonly ClaimedDelivery[];
    }
  /** A consumer's handlers finished with one delivery (or never started it). */
  | {
      readonly type: 'delivery.handled';
      readonly delivery: ClaimedDelivery;
      readonly fact: DeliveryFact;
    }
  /** The settle policy's decision for one delivery was written (or needed no write). */
  | {
      readonly type: 'delivery.settled';
      readonly delivery: ClaimedDelivery;
      readonly decision: SettleDecision;
    }
  /** A delivery used its last attempt and is now a dead letter for its consumer. */
  | {
      readonly type: 'delivery.dead-lettered';
      readonly delivery: ClaimedDelivery;
      readonly error: string;
    }
  /** This instance's lease on a delivery was gone when it tried to settle or mark it. */
  | { readonly type: 'delivery.lease-lost'; readonly delivery: ClaimedDelivery }
  /** The LISTEN connection is up (`reconnected`: after a loss). */
  | { readonly type: 'listener.up'; readonly reconnected: boolean }
  /** The LISTEN connection is down; polling continues. */
  | { readonly type: 'listener.down'; readonly error: unknown; readonly retryInMs: number };

/** The `type` of every lifecycle event. */
export type IntegrationLifecycleEventType = IntegrationLifecycleEvent['type'];

/** The lifecycle event of one type, e.g. `LifecycleEventOf<'delivery.handled'>`. */
export type LifecycleEventOf<T extends IntegrationLifecycleEventType> = Extract<
  IntegrationLifecycleEvent,
  { type: T }
>;

/**
 * Receives the pipeline's lifecycle events. Register with the module option `observers`, or
 * at run time with `IntegrationLifecycle.subscribe`. Called synchronously: keep it cheap (count,
 * record, enqueue), never block.
 */
export interface IntegrationLifecycleObserver {
  onEvent(event: IntegrationLifecycleEvent): void;
}
