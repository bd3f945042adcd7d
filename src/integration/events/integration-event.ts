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

/**
 * An event of one known name: `name` is the literal, so a union of these is discriminated by
 * `event.name` and `switch (event.name)` narrows `event.payload` without casts.
 */
export interface NamedIntegrationEvent<N extends string> extends IntegrationEvent<EventPayload<N>> {
  readonly name: N;
}

/** Splits a dotted name or pattern into its segments (type level). */
type Segments<S extends string> = S extends `${infer Head}.${infer Tail}`
  ? [Head, ...Segments<Tail>]
  : [S];

/** Whether pattern segments match name segments: `*` one segment, `**` any number (none included). */
type SegmentsMatch<P extends readonly string[], N extends readonly string[]> = P extends [
  infer Head extends string,
  ...infer Rest extends string[],
]
  ? Head extends '**'
    ? SegmentsMatch<Rest, N> extends true
      ? true
      : N extends [string, ...infer NameRest extends string[]]
        ? SegmentsMatch<P, NameRest>
        : false
    : N extends [infer Name extends string, ...infer NameRest extends string[]]
      ? Head extends '*'
        ? SegmentsMatch<Rest, NameRest>
        : Name extends Head
          ? SegmentsMatch<Rest, NameRest>
          : false
      : false
  : N extends []
    ? true
    : false;

/**
 * Whether event name `N` matches pattern `P` by the rules of `compileEventPattern`
 * (`*` one segment, `**` any number of segments): `PatternMatches<'vault.*', 'vault.locked'>`
 * is `true`.
 */
export type PatternMatches<P extends string, N extends string> = SegmentsMatch<
  Segments<P>,
  Segments<N>
>;

/**
 * The events a handler of pattern `P` receives: a union of {@link NamedIntegrationEvent} over the
 * names of {@link IntegrationEventMap} that match `P`, discriminated by `name`:
 *
 * ```ts
 * onVaultEvent(event: EventsMatching<'vault.*'>) {
 *   switch (event.name) {
 *     case 'vault.opened': return event.payload.currency; // VaultOpened
 *   }
 * }
 * ```
 *
 * When no known name matches (the map is not augmented, or the pattern names events it does not
 * list), it is `IntegrationEvent<unknown>`. The union lists known names only: an event published
 * under a name missing from the map still reaches a matching wildcard handler at run time, so
 * keep the map complete for the names your patterns cover (a `default:` branch sees the rest).
 */
export type EventsMatching<P extends string> = [KnownEventsMatching<P>] extends [never]
  ? IntegrationEvent<unknown>
  : KnownEventsMatching<P>;

type KnownEventsMatching<P extends string> = {
  [N in KnownEventName]: PatternMatches<P, N> extends true ? NamedIntegrationEvent<N> : never;
}[KnownEventName];

/**
 * An event as stored in the outbox: the event plus `availableAt` (not delivered before). What
 * each consumer did with it is its delivery (`DeliveryRecord`, `IntegrationAdminService.findEvent`).
 */
export interface OutboxEventRecord<TPayload = unknown> extends IntegrationEvent<TPayload> {
  readonly availableAt: Date;
}
