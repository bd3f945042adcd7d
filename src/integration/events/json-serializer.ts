/**
 * Deepest nesting of arrays and objects accepted in event payloads, headers and link metadata
 * (the outermost array or object is level 1). Deeper values are refused with a typed error
 * instead of overflowing the stack of the serialiser or of PostgreSQL's JSON parser.
 */
export const MAX_JSON_DEPTH = 100;

/** JSON text produced once from an input value, and the size PostgreSQL will return for it. */
export interface SerializedJson {
  /** The JSON text: exactly what is sent to PostgreSQL. */
  readonly json: string;
  /**
   * UTF-8 bytes of the text PostgreSQL returns for this value stored as `jsonb` (what
   * `value::text` and every read give back): `jsonb` writes a space after each `:` and `,` and
   * writes numbers in full decimal (`1e308` comes back as 309 digits).
   */
  readonly storedBytes: number;
}

/** Creates the typed error for a value at `path` (e.g. `payload.items[2]`) that is refused. */
export type JsonErrorFactory = (path: string, reason: string) => Error;

/** Returns why a string cannot be stored in PostgreSQL text/jsonb, or undefined when it can. */
export function unstorableStringReason(value: string): string | undefined {
  if (value.includes('\u0000'))
    return 'contains a NUL character (\\u0000), which PostgreSQL cannot store';
  if (!value.isWellFormed()) return 'contains a lone UTF-16 surrogate (not valid Unicode)';
  return undefined;
}

/**
 * Length of the text PostgreSQL's `jsonb` returns for a finite number: `jsonb` stores numbers
 * as `numeric`, which prints every digit and never an exponent (`1e21` → 22 characters,
 * `5e-324` → `0.000…5`, 326 characters). JavaScript's shortest round-trip form has the same
 * significant digits, so the length follows from its mantissa and exponent.
 */
export function jsonbNumberLength(value: number): number {
  const text = JSON.stringify(value);
  const e = text.indexOf('e');
  if (e < 0) return text.length;
  const sign = text.startsWith('-') ? 1 : 0;
  const digits = text.slice(sign, e).replace('.', '').length;
  const exponent = Number(text.slice(e + 1));
  // d.ddd × 10^exponent: integer digits, a decimal point, or leading zeros after "0.".
  if (exponent >= digits - 1) return sign + exponent + 1;
  if (exponent >= 0) return sign + digits + 1;
  return sign + 1 - exponent + digits;
}

/**
 * Serialises `value` to JSON in one pass, reading every property (getter) once, and refuses
 * what `JSON.stringify` would silently drop or mangle (functions, symbols, `undefined` in
 * arrays and array holes, NaN/Infinity, Map/Set/class instances, custom `toJSON`), what it
 * cannot serialise (BigInt, cycles), strings PostgreSQL's `jsonb` cannot store (NUL, lone
 * surrogates) and nesting deeper than {@link MAX_JSON_DEPTH}. A valid `Date` becomes its ISO
 * string. The text returned is built from the values validated, so what is sent is what was
 * checked, whatever a getter returns on a later read. `undefined` object properties are
 * omitted, as `JSON.stringify` does.
 *
 * Recursion is bounded by {@link MAX_JSON_DEPTH}, so no input can overflow the stack.
 */
export function serializeJson(
  value: unknown,
  field: string,
  fail: JsonErrorFactory,
): SerializedJson {
  let json = '';
  // Bytes jsonb's text adds over this JSON text: spaces after ':' and ',', numbers in full.
  let extra = 0;
  const ancestors = new Set<object>();
  // Keys from the root to the value being written; the path string is built only for an error.
  const keys: (string | number)[] = [];
  const refuse = (reason: string, keyOnly?: string): Error => {
    let path = field;
    for (const key of keys) path += typeof key === 'number' ? `[${key}]` : `.${key}`;
    return fail(keyOnly === undefined ? path : `${path} key ${JSON.stringify(keyOnly)}`, reason);
  };

  const write = (item: unknown, depth: number): void => {
    switch (typeof item) {
      case 'string': {
        const reason = unstorableStringReason(item);
        if (reason) throw refuse(reason);
        json += JSON.stringify(item);
        return;
      }
      case 'number': {
        if (!Number.isFinite(item)) {
          throw refuse(`must be a finite number (got ${item}); JSON has no NaN or Infinity`);
        }
        const text = JSON.stringify(item);
        if (text.includes('e')) extra += jsonbNumberLength(item) - text.length;
        json += text;
        return;
      }
      case 'boolean':
        json += item ? 'true' : 'false';
        return;
      case 'bigint':
        throw refuse('is a BigInt, which JSON cannot represent: send it as a string');
      case 'undefined':
        throw refuse('is undefined, which JSON cannot represent: omit it or use null');
      case 'function':
      case 'symbol':
        throw refuse(`is a ${typeof item}, which is not JSON`);
    }
    if (item === null) {
      json += 'null';
      return;
    }
    const object = item as object;
    if (object instanceof Date) {
      if (Number.isNaN(Date.prototype.getTime.call(object))) throw refuse('is an invalid Date');
      if ((object as { toJSON?: unknown }).toJSON !== Date.prototype.toJSON) {
        throw refuse('is a Date with its own toJSON: pass the value to store instead');
      }
      json += `"${Date.prototype.toISOString.call(object)}"`;
      return;
    }
    if (depth >= MAX_JSON_DEPTH) {
      throw refuse(
        `is nested more than ${MAX_JSON_DEPTH} levels deep (arrays and objects); flatten it`,
      );
    }
    if (ancestors.has(object)) {
      throw refuse('refers back to itself (a cycle), which JSON cannot represent');
    }
    ancestors.add(object);
    if (Array.isArray(object)) {
      if (Object.hasOwn(object, 'toJSON')) {
        throw refuse('is an array with its own toJSON: pass the value to store instead');
      }
      const items = object as unknown[];
      const length = items.length;
      json += '[';
      for (let i = 0; i < length; i++) {
        if (i > 0) json += ',';
        keys.push(i);
        write(items[i], depth + 1);
        keys.pop();
      }
      json += ']';
      if (length > 1) extra += length - 1;
    } else {
      const proto = Object.getPrototypeOf(object) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw refuse(
          `is a ${(object.constructor as { name?: string } | undefined)?.name ?? 'object'} instance; only plain objects, arrays and primitives are JSON (convert it first)`,
        );
      }
      const record = object as Record<string, unknown>;
      let members = 0;
      json += '{';
      for (const key of Object.keys(record)) {
        const reason = unstorableStringReason(key);
        if (reason) throw refuse(reason, key);
        const member = record[key];
        // Like JSON.stringify, an undefined property is simply absent.
        if (member === undefined) continue;
        json += `${members++ === 0 ? '' : ','}${JSON.stringify(key)}:`;
        keys.push(key);
        write(member, depth + 1);
        keys.pop();
      }
      json += '}';
      // ": " after each key and ", " between members.
      if (members > 0) extra += 2 * members - 1;
    }
    ancestors.delete(object);
  };

  write(value, 0);
  return { json, storedBytes: Buffer.byteLength(json, 'utf8') + extra };
}
