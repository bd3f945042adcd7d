import { MAX_JSON_DEPTH, jsonbNumberLength, serializeJson } from './json-serializer';

class Refused extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path} ${reason}`);
  }
}

const serialize = (value: unknown) =>
  serializeJson(value, 'payload', (path, reason) => new Refused(path, reason));

const refusedAt = (value: unknown): string | undefined => {
  try {
    serialize(value);
  } catch (error) {
    if (error instanceof Refused) return error.path;
    throw error;
  }
  return undefined;
};

const nestedArrays = (levels: number): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
};

describe('serializeJson', () => {
  it('produces the same text as JSON.stringify for plain JSON values', () => {
    const value = {
      s: 'quote " \\ \n \u0001 🔐',
      n: [0, -0, 1.5, -2e-7, 1e21],
      b: [true, false, null],
      o: { nested: { empty: {}, list: [] } },
      at: new Date(0),
    };
    expect(serialize(value).json).toBe(JSON.stringify(value));
  });

  it('omits undefined properties and refuses undefined elements and array holes', () => {
    expect(serialize({ a: undefined, b: 1 }).json).toBe('{"b":1}');
    expect(refusedAt([1, undefined])).toBe('payload[1]');
    // eslint-disable-next-line no-sparse-arrays
    expect(refusedAt([1, , 3])).toBe('payload[1]');
  });

  it('keeps a key named __proto__ (hardening #9)', () => {
    const value = JSON.parse('{"__proto__": {"x": 1}, "y": 2}') as unknown;
    expect(serialize(value).json).toBe('{"__proto__":{"x":1},"y":2}');
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and refuses one more (hardening #9)`, () => {
    expect(refusedAt(nestedArrays(MAX_JSON_DEPTH))).toBeUndefined();
    expect(refusedAt(nestedArrays(MAX_JSON_DEPTH + 1))).toBe(
      `payload${'[0]'.repeat(MAX_JSON_DEPTH)}`,
    );
    expect(refusedAt(nestedArrays(100_000))).toBe(`payload${'[0]'.repeat(MAX_JSON_DEPTH)}`);
  });

  it('accepts an object referenced twice, refuses one that contains itself', () => {
    const shared = { a: 1 };
    expect(serialize({ x: shared, y: [shared] }).json).toBe('{"x":{"a":1},"y":[{"a":1}]}');
    const cyclic: unknown[] = [];
    cyclic.push({ back: cyclic });
    expect(refusedAt(cyclic)).toBe('payload[0].back');
  });

  it('reads each property once: what is sent is what was checked (hardening #7)', () => {
    let reads = 0;
    const value = Object.defineProperty({}, 's', {
      enumerable: true,
      get: () => (reads++ === 0 ? 'ok' : '\u0000'),
    });
    expect(serialize(value).json).toBe('{"s":"ok"}');
    expect(reads).toBe(1);
  });

  it('refuses Dates and arrays with their own toJSON, and objects with a toJSON function (hardening #7)', () => {
    const date = Object.assign(new Date(0), { toJSON: () => 'x' });
    expect(refusedAt({ date })).toBe('payload.date');
    const list = Object.assign([1], { toJSON: () => 'x' });
    expect(refusedAt({ list })).toBe('payload.list');
    expect(refusedAt({ toJSON: () => 'x' })).toBe('payload.toJSON');
  });

  it('counts the bytes of the jsonb text: ": " and ", " and numbers in full (hardening #9)', () => {
    const value = { a: [1, 2], b: { c: 1e21 }, d: 'é' };
    // {"a": [1, 2], "b": {"c": 1000000000000000000000}, "d": "é"}
    expect(serialize(value).storedBytes).toBe(
      Buffer.byteLength('{"a": [1, 2], "b": {"c": 1000000000000000000000}, "d": "é"}'),
    );
    expect(serialize({}).storedBytes).toBe(2);
    expect(serialize([]).storedBytes).toBe(2);
  });
});

describe('jsonbNumberLength (hardening #9)', () => {
  it.each([
    [0, '0'],
    [-0, '0'],
    [42, '42'],
    [-1.5, '-1.5'],
    [1e21, '1' + '0'.repeat(21)],
    [-1.25e22, '-125' + '0'.repeat(20)],
    [1.5e-7, '0.00000015'],
    [-1e-7, '-0.0000001'],
  ])('%p prints as %s', (value, text) => {
    expect(jsonbNumberLength(value)).toBe(text.length);
  });

  it('1e308 is 309 digits and 5e-324 is 326 characters', () => {
    expect(jsonbNumberLength(1e308)).toBe(309);
    expect(jsonbNumberLength(5e-324)).toBe(326);
  });
});
