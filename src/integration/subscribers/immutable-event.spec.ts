import { immutableEvent } from './immutable-event';

describe('immutableEvent (hardening #5)', () => {
  const source = () => ({
    id: 'e1',
    payload: { vault: { id: 'v1', tags: ['a', { deep: 1 }] }, amount: 5, none: null },
    headers: { correlationId: 'c1' },
    createdAt: new Date('2026-11-30T12:00:00Z'),
    lockedUntil: null,
  });

  it('is a deep copy: equal to the event, sharing no object with it (hardening #5)', () => {
    const event = source();
    const view = immutableEvent(event);
    expect(view).toEqual(event);
    expect(view.payload).not.toBe(event.payload);
    expect(view.payload.vault.tags[1]).not.toBe(event.payload.vault.tags[1]);
    expect(view.createdAt).not.toBe(event.createdAt);
    expect(view.createdAt).toBeInstanceOf(Date);
    expect(view.createdAt.toISOString()).toBe('2026-11-30T12:00:00.000Z');
    expect(JSON.stringify(view)).toBe(JSON.stringify(event));
  });

  it('refuses every change with a TypeError, dates included (hardening #5)', () => {
    const event = source();
    const view = immutableEvent(event) as ReturnType<typeof source>;
    const attempts: Array<() => unknown> = [
      () => ((view.payload as { amount: number }).amount = 6),
      () => ((view.payload.vault as { id: string }).id = 'v2'),
      () => (view.payload.vault.tags as unknown[]).push('b'),
      () => ((view.payload.vault.tags[1] as { deep: number }).deep = 2),
      () => ((view.headers as Record<string, string>).extra = 'x'),
      () => delete (view as Partial<ReturnType<typeof source>>).id,
      () => view.createdAt.setTime(0),
      () => view.createdAt.setUTCFullYear(2000),
    ];
    for (const attempt of attempts) expect(attempt).toThrow(TypeError);
    expect(() => view.createdAt.setMonth(1)).toThrow(/read-only.*new Date\(event\.createdAt\)/);
    expect(view).toEqual(source());
    expect(event).toEqual(source());
    // A copy of a date is an ordinary, mutable one.
    const copy = new Date(view.createdAt);
    copy.setTime(0);
    expect(copy.getTime()).toBe(0);
  });

  it('keeps a JSON `__proto__` key as data, not as the prototype (hardening #5)', () => {
    const payload = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}') as object;
    const view = immutableEvent({ payload });
    expect(Object.getPrototypeOf(view.payload)).toBe(Object.prototype);
    expect(Object.keys(view.payload)).toEqual(['__proto__', 'a']);
    expect((view.payload as { polluted?: boolean }).polluted).toBeUndefined();
    expect(Object.isFrozen(view.payload)).toBe(true);
  });

  it('copies non-JSON objects: class instances as frozen plain objects, built-ins as copies (hardening #5)', () => {
    class Money {
      constructor(readonly cents: number) {}
    }
    const map = new Map([['k', 1]]);
    const view = immutableEvent({
      money: new Money(5),
      map,
      nothing: Object.create(null) as object,
    });
    expect(view.money).toEqual({ cents: 5 });
    expect(Object.isFrozen(view.money)).toBe(true);
    expect(view.map).not.toBe(map);
    expect(view.map.get('k')).toBe(1);
    expect(Object.isFrozen(view.nothing)).toBe(true);
  });
});
