import { InvalidEventError } from '../errors/invalid-event.error';
import { PayloadTooLargeError } from '../errors/payload-too-large.error';
import type { PublishEventInput } from './integration-event';

/**
 * Event names: two or more dot-separated segments of lowercase letters, digits, `_` or `-`,
 * each starting with a letter; at most 200 characters. Examples: `vault.locked`,
 * `billing.invoice.paid`, `user-profile.email_changed`.
 */
export const EVENT_NAME_PATTERN = /^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)+$/;

/** Longest accepted name, aggregate type/id, keys and other short text fields. */
export const MAX_TEXT_FIELD_LENGTH = 200;
/** Largest accepted headers object, serialised. */
export const MAX_HEADERS_BYTES = 16 * 1024;

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

/** Returns why a string cannot be stored in PostgreSQL text/jsonb, or undefined when it can. */
export function unstorableStringReason(value: string): string | undefined {
  if (value.includes('\u0000'))
    return 'contains a NUL character (\\u0000), which PostgreSQL cannot store';
  if (!value.isWellFormed()) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
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

/**
 * Serialises a payload to JSON, refusing what JSON.stringify would silently drop or mangle
 * (functions, symbols, undefined in arrays, NaN/Infinity, Map/Set/class instances) and what it
 * cannot serialise (BigInt, cycles), and strings PostgreSQL's jsonb cannot store.
 * `Date` values are accepted and stored as ISO strings (their `toJSON`).
 */
export function serializePayload(payload: unknown, field = 'payload', index?: number): string {
  const stack = new Set<object>();
  const check = (value: unknown, path: string): void => {
    switch (typeof value) {
      case 'string': {
        const reason = unstorableStringReason(value);
        if (reason) throw new InvalidEventError(path, reason, index);
        return;
      }
      case 'number':
        if (!Number.isFinite(value)) {
          throw new InvalidEventError(
            path,
            `must be a finite number (got ${value}); JSON has no NaN or Infinity`,
            index,
          );
        }
        return;
      case 'boolean':
        return;
      case 'bigint':
        throw new InvalidEventError(
          path,
          'is a BigInt, which JSON cannot represent: send it as a string',
          index,
        );
      case 'undefined':
        throw new InvalidEventError(
          path,
          'is undefined, which JSON cannot represent: omit it or use null',
          index,
        );
      case 'function':
      case 'symbol':
        throw new InvalidEventError(path, `is a ${typeof value}, which is not JSON`, index);
      case 'object': {
        if (value === null) return;
        if (value instanceof Date) {
          if (Number.isNaN(value.getTime()))
            throw new InvalidEventError(path, 'is an invalid Date', index);
          return;
        }
        if (stack.has(value))
          throw new InvalidEventError(
            path,
            'refers back to itself (a cycle), which JSON cannot represent',
            index,
          );
        stack.add(value);
        if (Array.isArray(value)) {
          value.forEach((item, i) => check(item, `${path}[${i}]`));
        } else {
          const proto = Object.getPrototypeOf(value) as unknown;
          if (proto !== Object.prototype && proto !== null) {
            throw new InvalidEventError(
              path,
              `is a ${describe(value)} instance; only plain objects, arrays and primitives are JSON (convert it first)`,
              index,
            );
          }
          for (const [key, item] of Object.entries(value as Record<string, unknown>)) {
            const reason = unstorableStringReason(key);
            if (reason)
              throw new InvalidEventError(`${path} key ${JSON.stringify(key)}`, reason, index);
            // Like JSON.stringify, an undefined property is simply absent.
            if (item !== undefined) check(item, `${path}.${key}`);
          }
        }
        stack.delete(value);
        return;
      }
    }
  };
  check(payload, field);
  return JSON.stringify(payload);
}

/**
 * Validates one event and serialises it. Throws {@link InvalidEventError} or
 * {@link PayloadTooLargeError} before anything is written.
 */
export function normalizeEvent(
  input: PublishEventInput,
  options: { maxPayloadBytes: number; defaultSourceModule: string | null },
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
  const aggregateId = checkText(
    typeof input.aggregateId === 'number' ? String(input.aggregateId) : input.aggregateId,
    'aggregateId',
    index,
    { required: true },
  )!;
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
  const tenantId = checkText(input.tenantId, 'tenantId', index, { required: false });
  const correlationId = checkText(input.correlationId, 'correlationId', index, { required: false });
  const causationId = checkText(input.causationId, 'causationId', index, { required: false });
  const idempotencyKey = checkText(input.idempotencyKey, 'idempotencyKey', index, {
    required: false,
  });
  const orderingKey =
    checkText(input.orderingKey, 'orderingKey', index, { required: false }) ??
    `${aggregateType}:${aggregateId}`;

  let availableAt: Date | null = null;
  if (input.availableAt !== undefined && input.availableAt !== null) {
    if (!(input.availableAt instanceof Date) || Number.isNaN(input.availableAt.getTime())) {
      throw new InvalidEventError('availableAt', 'must be a valid Date', index);
    }
    availableAt = input.availableAt;
  }

  if (!('payload' in input)) {
    throw new InvalidEventError(
      'payload',
      'is required (use null for an event without data)',
      index,
    );
  }
  const payloadJson = serializePayload(input.payload, 'payload', index);
  const size = Buffer.byteLength(payloadJson, 'utf8');
  if (size > options.maxPayloadBytes)
    throw new PayloadTooLargeError(size, options.maxPayloadBytes, index);

  const headers: Record<string, string> = {};
  if (input.headers !== undefined && input.headers !== null) {
    if (typeof input.headers !== 'object' || Array.isArray(input.headers)) {
      throw new InvalidEventError('headers', 'must be an object of string values', index);
    }
    for (const [key, value] of Object.entries(input.headers)) {
      if (typeof value !== 'string') {
        throw new InvalidEventError(
          `headers.${key}`,
          `must be a string (got ${describe(value)})`,
          index,
        );
      }
      const reason = unstorableStringReason(key) ?? unstorableStringReason(value);
      if (reason) throw new InvalidEventError(`headers.${key}`, reason, index);
      headers[key] = value;
    }
  }
  if (correlationId) headers.correlationId = correlationId;
  if (causationId) headers.causationId = causationId;
  const headersJson = JSON.stringify(headers);
  if (Buffer.byteLength(headersJson, 'utf8') > MAX_HEADERS_BYTES) {
    throw new InvalidEventError(
      'headers',
      `must serialise to at most ${MAX_HEADERS_BYTES} bytes`,
      index,
    );
  }

  return {
    name,
    version,
    sourceModule,
    aggregateType,
    aggregateId,
    orderingKey,
    payloadJson,
    headersJson,
    tenantId,
    correlationId,
    causationId,
    idempotencyKey,
    availableAt,
  };
}
