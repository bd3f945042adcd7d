import type { IntegrationEvent } from '../events/integration-event';
import { deepFrozenCopy, immutableEvent } from './immutable-event';

interface Payload {
  amount: number;
  none: null;
  vault: { id: string; tags: Array<string | { deep: number }> };
}

const record = (extra: object = {}): IntegrationEvent<Payload> => ({
  id: 'e1',
  seq: '1',
  name: 'vault.locked',
  version: 1,
  sourceModule: 'vault',
  aggregateType: 'Vault',
  aggregateId: 'v1',
  orderingKey: 'Vault:v1',
  payload: { vault: { id: 'v1', tags: ['a', { deep: 1 }] }, amount: 5, none: null },
  headers: { correlationId: 'c1' },
  tenantId: null,
  correlationId: 'c1',
  causationId: null,
  idempotencyKey: null,
  createdAt: new Date('2026-11-30T12:00:00Z'),
  ...extra,
});

const view = (source: IntegrationEvent<Payload>) => immutableEvent(source);

describe('immutableEvent (hardening #5)', () => {
  it.each([
    ['an event as a delivery carries it', record()],
    ['a record with a field of its own (generic path)', record({ custom: { x: 1 } })],
  ])('copies %s deeply: equal, sharing no object with it (hardening #5)', (_label, source) => {
    const copy = view(source);
    expect(copy).toEqual(source);
    expect(JSON.stringify(copy)).toBe(JSON.stringify(source));
    expect(copy.payload).not.toBe(source.payload);
    expect(copy.payload.vault.tags[1]).not.toBe(source.payload.vault.tags[1]);
    expect(copy.headers).not.toBe(source.headers);
    expect(copy.createdAt).toBeInstanceOf(Date);
    expect(copy.createdAt).not.toBe(source.createdAt);
    expect(copy.createdAt.getTime()).toBe(source.createdAt.getTime());
  });

  it.each([
    ['an event as a delivery carries it', record],
    ['a record with a field of its own (generic path)', () => record({ custom: { x: 1 } })],
  ])('refuses every change of %s with a TypeError, dates included (hardening #5)', (_l, make) => {
    const source = make();
    const copy = view(source);
    const attempts: Array<() => unknown> = [
      () => ((copy as { id: string }).id = 'e2'),
      () => ((copy.payload as { amount: number }).amount = 6),
      () => ((copy.payload.vault as { id: string }).id = 'v2'),
      () => copy.payload.vault.tags.push('b'),
      () => ((copy.payload.vault.tags[1] as { deep: number }).deep = 2),
      () => ((copy.headers as Record<string, string>).extra = 'x'),
      () => delete (copy as { tenantId?: string | null }).tenantId,
      () => copy.createdAt.setTime(0),
      () => copy.createdAt.setUTCFullYear(2000),
    ];
    for (const attempt of attempts) expect(attempt).toThrow(TypeError);
    expect(() => copy.createdAt.setMonth(1)).toThrow(/read-only.*new Date\(event\.createdAt\)/);
    expect(copy).toEqual(make());
    expect(source).toEqual(make());
    // A copy of a date is an ordinary, mutable one.
    const date = new Date(copy.createdAt);
    date.setTime(0);
    expect(date.getTime()).toBe(0);
  });
});

describe('deepFrozenCopy (hardening #5)', () => {
  it('keeps a JSON `__proto__` key as data, not as the prototype (hardening #5)', () => {
    const payload = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    const copy = deepFrozenCopy(payload);
    expect(Object.getPrototypeOf(copy)).toBe(Object.prototype);
    expect(Object.keys(copy)).toEqual(['__proto__', 'a']);
    expect((copy as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.isFrozen(copy)).toBe(true);
  });

  it('copies non-JSON objects: class instances as frozen plain objects, built-ins as copies (hardening #5)', () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const map = new Map([['k', 1]]);
    const copy = deepFrozenCopy({
      money: new Money(5),
      map,
      nothing: Object.create(null) as object,
    });
    expect(copy.money).toEqual({ cents: 5 });
    expect(Object.isFrozen(copy.money)).toBe(true);
    expect(copy.map).not.toBe(map);
    expect(copy.map.get('k')).toBe(1);
    expect(Object.isFrozen(copy.nothing)).toBe(true);
  });
});
