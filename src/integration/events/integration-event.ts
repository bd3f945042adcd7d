/**
 * Event types. Applications describe their events by augmenting {@link IntegrationEventMap}:
 *
 * ```ts
 * declare module 'nestjs-integration' {
 *   interface IntegrationEventMap {
 *     'vault.locked': { vaultId: string; reason: string };
 *   }
 * }
 * ```
 *
 * `publish` then checks the payload of `'vault.locked'` and handlers receive it typed.
 * Names that are not in the map are still accepted, with an `unknown`-typed payload.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface IntegrationEventMap {}

/** A JSON value, as stored in the outbox's `payload` column. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Event names known to the application's {@link IntegrationEventMap}. */
export type KnownEventName = Extract<keyof IntegrationEventMap, string>;

/** Payload type of an event name: from the map when known, otherwise `unknown`. */
export type EventPayload<N extends string> = N extends KnownEventName
  ? IntegrationEventMap[N]
  : unknown;

/** Lifecycle of an outbox row. */
export enum OutboxStatus {
  Pending = 'pending',
  Processing = 'processing',
  Processed = 'processed',
  DeadLetter = 'dead_letter',
}

/** What `DomainEventPublisher.publish` takes. */
export interface PublishEventInput<N extends string = string> {
  /** Dot-separated lowercase name, e.g. `vault.locked` (see `EVENT_NAME_PATTERN`). */
  readonly name: N;
  /** Type of the aggregate the event is about, e.g. `Vault`. */
  readonly aggregateType: string;
  /** Id of that aggregate (1–200 characters; a finite number is stored as its string). */
  readonly aggregateId: string;
  /**
   * JSON-serialisable payload (plain objects, arrays, strings, finite numbers, booleans, null,
   * valid Dates), at most `MAX_JSON_DEPTH` levels deep and `outbox.maxPayloadBytes` as stored.
   */
  readonly payload: EventPayload<N>;
  /** Schema version of the payload. @default 1 */
  readonly version?: number;
  /** Module that published it. @default outbox.defaultSourceModule */
  readonly sourceModule?: string;
  readonly tenantId?: string;
  readonly correlationId?: string;
  readonly causationId?: string;
  /** Publishing the same key twice (per tenant) stores one event and returns its id both times. */
  readonly idempotencyKey?: string;
  /**
   * Events with the same key are delivered in publish order, one at a time. Stored as given,
   * also with a `tenantId` (include the tenant yourself when tenants must not wait on each other).
   * @default `${aggregateType}:${aggregateId}`, or `${tenantId.length}:${tenantId}:${aggregateType}:${aggregateId}` with a tenant
   */
  readonly orderingKey?: string;
  /**
   * Not delivered before this time (database clock compares it); from year 1 to year 9999.
   * @default now
   */
  readonly availableAt?: Date;
  /** Free-form string headers, e.g. `traceparent` or `actor`: a plain object of strings. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Headers stored with every event (plus any custom ones). */
export interface IntegrationEventHeaders {
  readonly correlationId?: string;
  readonly causationId?: string;
  readonly [key: string]: string | undefined;
}

/** An event as stored in the outbox and handed to dispatchers and handlers. */
export interface IntegrationEvent<TPayload = unknown> {
  readonly id: string;
  /** Position in publish order (database sequence), as a decimal string. */
  readonly seq: string;
  readonly name: string;
  readonly version: number;
  readonly sourceModule: string | null;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly orderingKey: string;
  readonly payload: TPayload;
  readonly headers: IntegrationEventHeaders;
  readonly tenantId: string | null;
  readonly correlationId: string | null;
  readonly causationId: string | null;
  readonly idempotencyKey: string | null;
  readonly createdAt: Date;
}

/** An outbox row with its delivery state. */
export interface OutboxEventRecord<TPayload = unknown> extends IntegrationEvent<TPayload> {
  readonly status: OutboxStatus;
  /** Attempts started so far (the current one included while processing). */
  readonly attemptCount: number;
  readonly availableAt: Date;
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
  readonly lastError: string | null;
  readonly updatedAt: Date;
  readonly processedAt: Date | null;
  /**
   * Set by the processor's claim: whether the inbox already holds rows for this event (a
   * redelivery or a replay). `undefined` when not known (events not read by a claim).
   */
  readonly hasInboxRecords?: boolean;
}
