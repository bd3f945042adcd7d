import type { Logger } from '@nestjs/common';
import type { RetryPolicy } from '../utils/retry';
import type { EventsMatching, IntegrationEvent } from '../events/integration-event';
import type { BoundIntegrationLinks } from '../links/integration-link.service';

/** How a consumer's handlers are wrapped in transactions. */
export type TransactionMode = 'batch' | 'per-event' | false;

/** What a handler receives besides the event. `TTx` is the app ORM's transaction handle. */
export interface HandlerContext<TTx = unknown> {
  /**
   * The transaction the delivery's processed mark commits in: write your effects through it so
   * they commit exactly once. `undefined` for `transactional: false` consumers.
   */
  readonly tx: TTx;
  /** Integration links bound to `tx`. */
  readonly links: BoundIntegrationLinks;
  readonly logger: Logger;
  /** Attempt number of this delivery (1 for the first). */
  readonly attempt: number;
  readonly consumer: string;
}

/**
 * A handler function. `event` is the consumer's own deep-frozen copy: changing it (its payload,
 * headers or dates) throws a `TypeError` in strict-mode code; copy what you need to change.
 */
export type IntegrationEventHandlerFn<TPayload = unknown, TTx = unknown> = (
  event: IntegrationEvent<TPayload>,
  ctx: HandlerContext<TTx>,
) => unknown;

/**
 * A consumer's settings, declared once: by `@IntegrationConsumer(name, options)` on a class, or
 * by `EventSubscriberRegistry.registerConsumer(name, options)`.
 */
export interface ConsumerOptions {
  /**
   * Backoff and attempts for this consumer's failures (merged over `processor.retry`). Each
   * consumer has its own delivery of an event, with its own attempts: after its last allowed
   * attempt fails, that delivery is this consumer's dead letter; other consumers are not held.
   */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * - `'batch'` (default): one transaction per consumer per claimed batch, a SAVEPOINT per event;
   * - `'per-event'`: one transaction per event;
   * - `false`: no transaction (effects outside the database): at-least-once, the delivery is
   *   marked processed after the handler succeeds, so a crash in between repeats the handler.
   * All handlers of one consumer must agree. A transaction that hits a deadlock or serialization
   * failure is run again at once (handlers included), up to `MAX_CONFLICT_RETRIES` times,
   * without counting an attempt. In `'batch'` mode, write rows that other transactions also
   * write in one consistent order (e.g. ascending key), or such deadlocks become likely.
   */
  readonly transactional?: TransactionMode;
  /**
   * How many events of **different ordering keys** this consumer runs at once within a batch;
   * the events of one key still run one after another, in order.
   *
   * - `transactional: 'batch'`: they run inside the one batch transaction and share its
   *   connection, so this only pays off when the adapter pipelines them (`pgAdapter` on a pg
   *   `Pool` created with `pipeline: true`); with any other adapter the consumer runs one event
   *   at a time and says so once in the log. Handlers then interleave within one transaction:
   *   write them so that events of different keys do not read-modify-write the same rows in
   *   JavaScript (single statements such as `UPDATE … SET n = n + 1` are fine).
   * - `transactional: false`: no transaction is shared, so it works with every adapter; use it
   *   for handlers that wait on something outside the database (a broker's acknowledgement, an
   *   HTTP call). A failure holds back its own key only.
   * - Not with `'per-event'`.
   *
   * All handlers of one consumer must agree. Between 1 and {@link MAX_CONSUMER_CONCURRENCY}.
   * @default 1
   */
  readonly concurrency?: number;
  /**
   * Where a consumer starts the first time the cluster sees it (later starts keep its place):
   * - `'now'`: with the events committed from then on;
   * - `'retained'`: also with every event still in the outbox (not yet purged) that its
   *   patterns match, delivered in publish order before anything newer.
   * @default 'now'
   */
  readonly startFrom?: ConsumerStart;
}

/** Where a new consumer starts: see {@link ConsumerOptions.startFrom}. */
export type ConsumerStart = 'now' | 'retained';

/** Method-level options of `@OnIntegrationEvent` inside an `@IntegrationConsumer` class. */
export interface IntegrationHandlerOptions {
  /** Handlers of one consumer run by descending priority, then registration order. @default 0 */
  readonly priority?: number;
}

/**
 * Options of programmatic registration, and of the deprecated `@OnIntegrationEvent(pattern,
 * { consumer, ... })` form: the handler names its consumer. Consumer settings given here merge
 * field by field with the consumer's other handlers (each field set twice must agree); prefer
 * declaring them once with `registerConsumer` or `@IntegrationConsumer`.
 */
export interface HandlerOptions extends ConsumerOptions, IntegrationHandlerOptions {
  /**
   * Name of the consumer this handler belongs to. Each consumer processes each event exactly
   * once (its own inbox row); several consumers may handle one event independently.
   */
  readonly consumer: string;
}

/** Largest `concurrency` of a consumer. */
export const MAX_CONSUMER_CONCURRENCY = 1_000;

/** A handler to register programmatically (`EventSubscriberRegistry.register`). */
export interface HandlerDefinition<TPayload = unknown, TTx = unknown> extends HandlerOptions {
  /** Event name or wildcard pattern (see `compileEventPattern`). */
  readonly pattern: string;
  /** Name for logs and uniqueness per consumer, e.g. `VaultNotifier.onLocked`. */
  readonly name: string;
  readonly handle: IntegrationEventHandlerFn<TPayload, TTx>;
}

/** A registered handler. */
export interface RegisteredHandler extends HandlerDefinition {
  /** Registration order (global to the registry). */
  readonly order: number;
  readonly priority: number;
  readonly matches: (eventName: string) => boolean;
}

/**
 * Handler type for an event name or pattern: its event is {@link EventsMatching} the pattern, so
 * a `'vault.*'` handler narrows `event.payload` by `switch (event.name)`.
 */
export type HandlerFor<P extends string, TTx = unknown> = (
  event: EventsMatching<P>,
  ctx: HandlerContext<TTx>,
) => unknown;
