import { types } from 'node:util';
import type { IntegrationEvent } from '../events/integration-event';

/**
 * A `Date` whose setters throw: `Object.freeze` cannot stop `setTime` and the other setters,
 * which change a date's internal value rather than a property.
 */
class ImmutableDate extends Date {}

for (const method of Object.getOwnPropertyNames(Date.prototype)) {
  if (!method.startsWith('set')) continue;
  Object.defineProperty(ImmutableDate.prototype, method, {
    value(this: Date): never {
      throw new TypeError(
        `Cannot call ${method}() on a date of an integration event: events handed to handlers ` +
          'are read-only. Copy it first, e.g. new Date(event.createdAt).',
      );
    },
  });
}

/**
 * A deep-frozen copy of `value`: plain objects and arrays are copied and frozen, dates become
 * dates whose setters throw. Objects of other classes are copied as their own enumerable
 * fields (as JSON would have them); Map, Set and binary data, which JavaScript cannot freeze,
 * are copied only. Stored events hold none of those: their payload is JSON.
 */
export function deepFrozenCopy<T>(value: T): T {
  return frozenCopy(value) as T;
}

function frozenCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy));
  const prototype = Object.getPrototypeOf(value) as unknown;
  // Plain objects, the usual case, skip the checks below (they cost more than the copy).
  if (prototype !== Object.prototype && prototype !== null) {
    // node:util's checks, unlike instanceof, also hold for objects of another realm (vm, Jest).
    if (value instanceof Date || types.isDate(value))
      return Object.freeze(new ImmutableDate(value.getTime()));
    if (
      types.isMap(value) ||
      types.isSet(value) ||
      types.isAnyArrayBuffer(value) ||
      ArrayBuffer.isView(value)
    ) {
      return structuredClone(value);
    }
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const field = frozenCopy((value as Record<string, unknown>)[key]);
    // A JSON payload may have an own `__proto__` key: assigning it would set the prototype.
    if (key === '__proto__')
      Object.defineProperty(copy, key, {
        value: field,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    else copy[key] = field;
  }
  return Object.freeze(copy);
}

/** The fields of an {@link IntegrationEvent} (what a claimed delivery carries). */
const EVENT_FIELDS: ReadonlySet<string> = new Set([
  'id',
  'seq',
  'name',
  'version',
  'sourceModule',
  'aggregateType',
  'aggregateId',
  'orderingKey',
  'payload',
  'headers',
  'tenantId',
  'correlationId',
  'causationId',
  'idempotencyKey',
  'createdAt',
]);

/**
 * The event as one object literal: V8 freezes an object of a fixed shape several times faster
 * than one built key by key, and this runs once per (event, consumer) on the hot path.
 */
function eventView(e: IntegrationEvent): IntegrationEvent {
  return Object.freeze({
    id: e.id,
    seq: e.seq,
    name: e.name,
    version: e.version,
    sourceModule: e.sourceModule,
    aggregateType: e.aggregateType,
    aggregateId: e.aggregateId,
    orderingKey: e.orderingKey,
    payload: frozenCopy(e.payload),
    headers: frozenCopy(e.headers) as IntegrationEvent['headers'],
    tenantId: e.tenantId,
    correlationId: e.correlationId,
    causationId: e.causationId,
    idempotencyKey: e.idempotencyKey,
    createdAt: frozenCopy(e.createdAt) as Date,
  });
}

/**
 * The read-only copy of an event that one consumer's handlers receive, so that no consumer can
 * change what another one sees: payload, headers and dates included, see
 * {@link deepFrozenCopy}. Assigning to it throws a `TypeError` in strict-mode code (every ES
 * module and TypeScript output), and so does any setter of its dates; sloppy-mode code has the
 * assignment silently ignored. An event with fields beyond {@link IntegrationEvent}'s is copied
 * whole (the generic path).
 */
export function immutableEvent<T extends IntegrationEvent>(event: T): T {
  for (const key in event) if (!EVENT_FIELDS.has(key)) return deepFrozenCopy(event);
  return eventView(event) as T;
}
