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

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
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
  const parts: string[] = [];
  // Bytes jsonb's text adds over this JSON text: spaces after ':' and ',', numbers in full.
  let extra = 0;
  const ancestors = new Set<object>();

  const write = (item: unknown, path: string, depth: number): void => {
    switch (typeof item) {
      case 'string': {
        const reason = unstorableStringReason(item);
        if (reason) throw fail(path, reason);
        parts.push(JSON.stringify(item));
        return;
      }
      case 'number': {
        if (!Number.isFinite(item)) {
          throw fail(path, `must be a finite number (got ${item}); JSON has no NaN or Infinity`);
        }
        const text = JSON.stringify(item);
        extra += jsonbNumberLength(item) - text.length;
        parts.push(text);
        return;
      }
      case 'boolean':
        parts.push(item ? 'true' : 'false');
        return;
      case 'bigint':
        throw fail(path, 'is a BigInt, which JSON cannot represent: send it as a string');
      case 'undefined':
        throw fail(path, 'is undefined, which JSON cannot represent: omit it or use null');
      case 'function':
      case 'symbol':
        throw fail(path, `is a ${typeof item}, which is not JSON`);
    }
    if (item === null) {
      parts.push('null');
      return;
    }
    const object = item as object;
    if (object instanceof Date) {
      if (Number.isNaN(Date.prototype.getTime.call(object))) throw fail(path, 'is an invalid Date');
      if ((object as { toJSON?: unknown }).toJSON !== Date.prototype.toJSON) {
        throw fail(path, 'is a Date with its own toJSON: pass the value to store instead');
      }
      parts.push(JSON.stringify(Date.prototype.toISOString.call(object)));
      return;
    }
    if (depth >= MAX_JSON_DEPTH) {
      throw fail(
        path,
        `is nested more than ${MAX_JSON_DEPTH} levels deep (arrays and objects); flatten it`,
      );
    }
    if (ancestors.has(object)) {
      throw fail(path, 'refers back to itself (a cycle), which JSON cannot represent');
    }
    ancestors.add(object);
    if (Array.isArray(object)) {
      if (Object.hasOwn(object, 'toJSON')) {
        throw fail(path, 'is an array with its own toJSON: pass the value to store instead');
      }
      const items = object as unknown[];
      const length = items.length;
      parts.push('[');
      for (let i = 0; i < length; i++) {
        if (i > 0) parts.push(',');
        write(items[i], `${path}[${i}]`, depth + 1);
      }
      parts.push(']');
      extra += Math.max(0, length - 1);
    } else {
      const proto = Object.getPrototypeOf(object) as unknown;
      if (proto !== Object.prototype && proto !== null) {
        throw fail(
          path,
          `is a ${describe(object)} instance; only plain objects, arrays and primitives are JSON (convert it first)`,
        );
      }
      const record = object as Record<string, unknown>;
      let members = 0;
      parts.push('{');
      for (const key of Object.keys(record)) {
        const reason = unstorableStringReason(key);
        if (reason) throw fail(`${path} key ${JSON.stringify(key)}`, reason);
        const member = record[key];
        // Like JSON.stringify, an undefined property is simply absent.
        if (member === undefined) continue;
        parts.push(members++ === 0 ? '' : ',', JSON.stringify(key), ':');
        write(member, `${path}.${key}`, depth + 1);
      }
      parts.push('}');
      // ": " after each key and ", " between members.
      extra += members + Math.max(0, members - 1);
    }
    ancestors.delete(object);
  };

  write(value, field, 0);
  const json = parts.join('');
  return { json, storedBytes: Buffer.byteLength(json, 'utf8') + extra };
}
