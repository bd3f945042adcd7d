import { isUuid, uuidv7, uuidv7Timestamp, UuidV7Generator } from './uuid';

describe('UUIDv7', () => {
  it('has version 7, the RFC variant and the current time', () => {
    const before = Date.now();
    const id = uuidv7();
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(uuidv7Timestamp(id)).toBeGreaterThanOrEqual(before);
    expect(uuidv7Timestamp(id)).toBeLessThanOrEqual(Date.now());
    expect(isUuid(id)).toBe(true);
    expect(isUuid('not-a-uuid')).toBe(false);
  });

  it('is strictly increasing within one millisecond and across counter overflow', () => {
    const gen = new UuidV7Generator(() => 1_700_000_000_000);
    const ids = Array.from({ length: 5_000 }, () => gen.next());
    const sorted = [...ids].sort();
    expect(sorted).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
    // 4,096 per millisecond: the overflow borrowed the next millisecond.
    expect(uuidv7Timestamp(ids.at(-1)!)).toBe(1_700_000_000_001);
  });

  it('stays increasing when the clock goes backwards', () => {
    let now = 2_000;
    const gen = new UuidV7Generator(() => now);
    const a = gen.next();
    now = 1_000;
    const b = gen.next();
    expect(b > a).toBe(true);
    expect(uuidv7Timestamp(b)).toBe(2_000);
  });

  it('gives every id random bits of its own, also across draws of random bytes', () => {
    // Random bytes come from the operating system 512 ids at a time; with a frozen clock the
    // counter alone would keep ids apart, so compare the random part (the last 62 bits).
    const gen = new UuidV7Generator(() => 1_700_000_000_000);
    const tails = Array.from({ length: 2_000 }, () => gen.next().slice(19));
    expect(new Set(tails).size).toBe(tails.length);
    for (const tail of tails) expect(tail).toMatch(/^[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
