import { compileEventPattern, isValidEventPattern, matchEventSegments } from './event-pattern';

/** The documented rules, written as plainly as possible (exponential; small inputs only). */
function reference(pattern: readonly string[], name: readonly string[]): boolean {
  if (pattern.length === 0) return name.length === 0;
  const [part, ...rest] = pattern;
  if (part === '**') {
    for (let skip = 0; skip <= name.length; skip++)
      if (reference(rest, name.slice(skip))) return true;
    return false;
  }
  return name.length > 0 && (part === '*' || part === name[0]) && reference(rest, name.slice(1));
}

/** `name` behind a proxy that counts reads of its segments: the matcher's steps. */
function counted(name: readonly string[]): { segments: readonly string[]; reads: () => number } {
  let reads = 0;
  const segments = new Proxy(name, {
    get(target, key, receiver) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++;
      return Reflect.get(target, key, receiver) as unknown;
    },
  });
  return { segments, reads: () => reads };
}

/** A small deterministic PRNG, so a failing case can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('event pattern matching is linear (hardening #6)', () => {
  const hostile = '**.**.**.**.**.**.zz';
  const longName = (last: string) => [...Array.from({ length: 99 }, () => 'a'), last].join('.');

  it('matches the hostile pattern against a valid 100-segment name, both ways (hardening #6)', () => {
    expect(isValidEventPattern(hostile)).toBe(true);
    const matches = compileEventPattern(hostile);
    expect(longName('b').length).toBeLessThanOrEqual(200);
    expect(matches(longName('b'))).toBe(false);
    expect(matches(longName('zz'))).toBe(true);
    expect(compileEventPattern('**.*.**.zz.**.*')(longName('zz'))).toBe(false);
    expect(compileEventPattern('**.*.**.a.**.*')(longName('zz'))).toBe(true);
  });

  it('reads at most (pattern segments × name segments) name segments, whatever the pattern (hardening #6)', () => {
    // A backtracking matcher reads these segments ~10^5 times for 40 segments, and its work
    // grows exponentially with the number of `**`.
    for (const pattern of ['**.**.**.**.zz', '**.*.**.*.**.*.**.zz', '*.**.a.**.a.**.a.**.b']) {
      const parts = pattern.split('.');
      const name = Array.from({ length: 40 }, () => 'a');
      const { segments, reads } = counted(name);
      // The name has no `zz` or `b`: no match, only found after trying every split.
      expect(matchEventSegments(parts, segments)).toBe(false);
      expect(reads()).toBeLessThanOrEqual(parts.length * name.length);
    }
  });

  it('agrees with the documented rules on thousands of random patterns and names (hardening #6)', () => {
    const random = prng(6);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    for (let c = 0; c < 5_000; c++) {
      const pattern = Array.from({ length: 1 + Math.floor(random() * 6) }, () =>
        pick(['a', 'b', '*', '**', '**']),
      );
      const name = Array.from({ length: 1 + Math.floor(random() * 7) }, () => pick(['a', 'b']));
      const expected = reference(pattern, name);
      if (compileEventPattern(pattern.join('.'))(name.join('.')) !== expected) {
        throw new Error(`${pattern.join('.')} vs ${name.join('.')}: expected ${expected}`);
      }
    }
  });
});
