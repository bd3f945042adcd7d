import { InvalidEventError } from '../errors/invalid-event.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import type { PublishEventInput } from './integration-event';
import { serializeJson, unstorableStringReason, type SerializedJson } from './json-serializer';

export { unstorableStringReason } from './json-serializer';

/**
 * Event names: two or more dot-separated segments of lowercase letters, digits, `_` or `-`,
 * each starting with a letter; at most 200 characters. Examples: `vault.locked`,
 * `billing.invoice.paid`, `user-profile.email_changed`.
 */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;

/** Longest accepted name, aggregate type/id, keys and other short text fields. */
export const MAX_TEXT_FIELD_LENGTH = 200;
/** Largest accepted headers object, in bytes of the `jsonb` text PostgreSQL stores and returns. */
export const MAX_HEADERS_BYTES = 16 * 1024;

/** Earliest accepted `availableAt`: 0001-01-01T00:00:00.000Z (ISO years before 1 are not storable). */
export const MIN_AVAILABLE_AT_MS = Date.parse('0001-01-01T00:00:00.000Z');
/** Latest accepted `availableAt`: 9999-12-31T23:59:59.999Z (later ISO years need 6 digits). */
export const MAX_AVAILABLE_AT_MS = Date.parse('9999-12-31T23:59:59.999Z');

/**
 * The ordering key an event gets when none is given: `` `${aggregateType}:${aggregateId}` ``,
 * prefixed with its tenant as `` `${tenantId.length}:${tenantId}:` `` when it has one, so equal
 * aggregate ids of different tenants never wait on each other. The length prefix keeps tenants
 * apart whatever characters their ids contain (`a:b` + `c` vs `a` + `b:c`).
 */
export function defaultOrderingKey(
  aggregateType: string,
  aggregateId: string,
  tenantId: string | null,
): string {
  const key = `${aggregateType}:${aggregateId}`;
  return tenantId === null ? key : `${tenantId.length}:${tenantId}:${key}`;
}

/** Header that carries the actor of the context an event was published in. */
export const ACTOR_HEADER = 'actor';

/**
 * Values an event gets from where it is published when its caller did not set them: the
 * context's correlation and causation ids (for an event published by a handler, the handled
 * event's), and headers (actor, `enrichMeta`, trace context). Each applies only when the
 * caller left that field (or header) unset; the ids are validated like the caller's own.
 */
export interface EventDefaults {
  readonly correlationId?: string | null;
  readonly causationId?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

/** An event validated and serialised, ready for the INSERT. */
export interface NormalizedEvent {
  readonly name: string;
  readonly version: number;
  readonly sourceModule: string | null;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly orderingKey: string;
  /** Payload as JSON text. */
  readonly payloadJson: string;
  /** Headers as JSON text. */
  readonly headersJson: string;
  readonly tenantId: string | null;
  readonly correlationId: string | null;
  readonly causationId: string | null;
  readonly idempotencyKey: string | null;
  readonly availableAt: Date | null;
}

function checkText(
  value: unknown,
  field: string,
  index: number | undefined,
  { required }: { required: boolean },
): string | null {
  if (value === undefined || value === null) {
    if (required) throw new InvalidEventError(field, 'is required', index);
    return null;
  }
  if (typeof value !== 'string') {
    throw new InvalidEventError(field, `must be a string (got ${describe(value)})`, index);
  }
  if (value.trim().length === 0)
    throw new InvalidEventError(field, 'must not be empty or blank', index);
  if (value.length > MAX_TEXT_FIELD_LENGTH) {
    throw new InvalidEventError(
      field,
      `must be at most ${MAX_TEXT_FIELD_LENGTH} characters (got ${value.length})`,
      index,
    );
  }
  const reason = unstorableStringReason(value);
  if (reason) throw new InvalidEventError(field, reason, index);
  return value;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function checkAggregateId(value: unknown, index: number | undefined): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new InvalidEventError(
      'aggregateId',
      `must be a string or a finite number (got ${value})`,
      index,
    );
  }
  return checkText(typeof value === 'number' ? String(value) : value, 'aggregateId', index, {
    required: true,
  })!;
}

function checkAvailableAt(value: unknown, index: number | undefined): Date | null {
  if (value === undefined || value === null) return null;
  if (!(value instanceof Date))
    throw new InvalidEventError('availableAt', 'must be a valid Date', index);
  // The Date's own slot, not a getTime/toISOString the caller may have overridden.
  const ms = Date.prototype.getTime.call(value);
  if (Number.isNaN(ms)) throw new InvalidEventError('availableAt', 'must be a valid Date', index);
  if (ms < MIN_AVAILABLE_AT_MS || ms > MAX_AVAILABLE_AT_MS) {
    throw new InvalidEventError(
      'availableAt',
      `must be between 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z (got ${Date.prototype.toISOString.call(value)})`,
      index,
    );
  }
  return new Date(ms);
}

function serializeHeaders(
  value: unknown,
  correlationId: string | null,
  causationId: string | null,
  index: number | undefined,
  defaults: Readonly<Record<string, string>> | undefined,
): string {
  // A null prototype keeps a header named "__proto__" as an ordinary key.
  const headers = Object.create(null) as Record<string, string>;
  if (value !== undefined && value !== null) {
    if (!isPlainObject(value)) {
      throw new InvalidEventError(
        'headers',
        `must be a plain object of string values (got ${describe(value)})`,
        index,
      );
    }
    for (const key of Object.keys(value)) {
      const item = value[key];
      if (typeof item !== 'string') {
        throw new InvalidEventError(
          `headers.${key}`,
          `must be a string (got ${describe(item)})`,
          index,
        );
      }
      const reason = unstorableStringReason(key) ?? unstorableStringReason(item);
      if (reason) throw new InvalidEventError(`headers.${key}`, reason, index);
      headers[key] = item;
    }
  }
  if (defaults) {
    // The caller's own headers win (e.g. a traceparent set by hand).
    for (const key of Object.keys(defaults)) {
      if (!(key in headers)) headers[key] = defaults[key]!;
    }
  }
  if (correlationId) headers.correlationId = correlationId;
  if (causationId) headers.causationId = causationId;
  const { json, storedBytes } = serialize(headers, 'headers', index);
  if (storedBytes > MAX_HEADERS_BYTES) {
    throw new InvalidEventError(
      'headers',
      `must take at most ${MAX_HEADERS_BYTES} bytes as stored (jsonb text; got ${storedBytes})`,
      index,
    );
  }
  return json;
}

function serialize(value: unknown, field: string, index: number | undefined): SerializedJson {
  return serializeJson(value, field, (path, reason) => new InvalidEventError(path, reason, index));
}

/**
 * Validates one event and serialises it. Throws {@link InvalidEventError} or
 * {@link PayloadTooLargeError} before anything is written. Every field of `input` is read once,
 * and the payload and headers are serialised once: what is returned is what was validated.
 */
export function normalizeEvent(
  input: PublishEventInput,
  options: {
    maxPayloadBytes: number;
    defaultSourceModule: string | null;
    /** Tenant of events that do not name one (the context's); validated like their own. */
    defaultTenantId?: string | null;
    /** Called once the event is otherwise valid, just before its headers are serialised. */
    defaults?: (input: PublishEventInput) => EventDefaults | undefined;
  },
  index?: number,
): NormalizedEvent {
  if (input === null || typeof input !== 'object') {
    throw new InvalidEventError('event', `must be an object (got ${describe(input)})`, index);
  }
  const name = checkText(input.name, 'name', index, { required: true })!;
  if (!EVENT_NAME_PATTERN.test(name)) {
    throw new InvalidEventError(
      'name',
      `${JSON.stringify(name)} does not match ${EVENT_NAME_PATTERN}: use lowercase dot-separated ` +
        'segments such as "vault.locked" or "billing.invoice.paid"',
      index,
    );
  }
  const aggregateType = checkText(input.aggregateType, 'aggregateType', index, { required: true })!;
  const aggregateId = checkAggregateId(input.aggregateId as unknown, index);
  const version = input.version ?? 1;
  if (!Number.isInteger(version) || version < 1 || version > 2_147_483_647) {
    throw new InvalidEventError(
      'version',
      `must be a positive integer (got ${String(version)})`,
      index,
    );
  }
  const sourceModule =
    checkText(input.sourceModule, 'sourceModule', index, { required: false }) ??
    options.defaultSourceModule;
  const tenantId = checkText(
    input.tenantId !== undefined ? input.tenantId : options.defaultTenantId,
    'tenantId',
    index,
    { required: false },
  );
  let correlationId = checkText(input.correlationId, 'correlationId', index, { required: false });
  let causationId = checkText(input.causationId, 'causationId', index, { required: false });
  const idempotencyKey = checkText(input.idempotencyKey, 'idempotencyKey', index, {
    required: false,
  });
  const orderingKey =
    checkText(input.orderingKey, 'orderingKey', index, { required: false }) ??
    defaultOrderingKey(aggregateType, aggregateId, tenantId);
  const availableAt = checkAvailableAt(input.availableAt as unknown, index);

  if (!('payload' in input)) {
    throw new InvalidEventError(
      'payload',
      'is required (use null for an event without data)',
      index,
    );
  }
  const payload = serialize(input.payload, 'payload', index);
  if (payload.storedBytes > options.maxPayloadBytes)
    throw new PayloadTooLargeError(payload.storedBytes, options.maxPayloadBytes, index);

  const headersInput = input.headers as unknown;
  const defaults = options.defaults?.(input);
  correlationId ??= checkText(defaults?.correlationId, 'correlationId', index, { required: false });
  causationId ??= checkText(defaults?.causationId, 'causationId', index, { required: false });
  const headersJson = serializeHeaders(
    headersInput,
    correlationId,
    causationId,
    index,
    defaults?.headers,
  );

  return {
    name,
    version,
    sourceModule,
    aggregateType,
    aggregateId,
    orderingKey,
    payloadJson: payload.json,
    headersJson,
    tenantId,
    correlationId,
    causationId,
    idempotencyKey,
    availableAt,
  };
}
