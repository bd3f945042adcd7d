import { types } from 'node:util';

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

function frozenCopy(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  // node:util's checks, unlike instanceof, also hold for objects of another realm (vm, Jest).
  if (types.isDate(value)) return Object.freeze(new ImmutableDate(value.getTime()));
  if (Array.isArray(value)) return Object.freeze(value.map(frozenCopy));
  if (
    types.isMap(value) ||
    types.isSet(value) ||
    types.isAnyArrayBuffer(value) ||
    ArrayBuffer.isView(value)
  ) {
    // Not JSON (a stored event never holds one), and JavaScript cannot freeze their contents:
    // the consumer gets a copy of its own.
    return structuredClone(value);
  }
  // Plain objects, and any other object as its own enumerable fields (as JSON would have it).
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

/**
 * A deep-frozen copy of an event (payload, headers, dates and all): what a consumer's handlers
 * receive, so that no consumer can change what another one sees. Assigning to it throws a `TypeError` in
 * strict-mode code (every ES module and TypeScript output), and so does any setter of its
 * dates; sloppy-mode code has the assignment silently ignored.
 */
export function immutableEvent<T extends object>(event: T): T {
  return frozenCopy(event) as T;
}
