/** Generated event patterns and names, shared by the pattern-regex unit spec and e2e spec. */

/** A small deterministic generator (mulberry32), so a failure reproduces. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Few literals, so generated patterns and names share segments often enough to match.
const LITERALS = ['a', 'b', 'ab', 'a-b', 'a_1', 'b9'];

/**
 * `count` patterns of 1 to 5 segments, wildcards included, and names of 2 to 6
 * segments, from a fixed seed so a failure reproduces.
 */
export function generatePatternsAndNames(
  seed: number,
  count: number,
): { patterns: string[]; names: string[] } {
  const next = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)]!;
  const segments = (min: number, max: number, choices: readonly string[]): string =>
    Array.from({ length: min + Math.floor(next() * (max - min + 1)) }, () => pick(choices)).join(
      '.',
    );
  return {
    patterns: Array.from({ length: count }, () =>
      segments(1, 5, [...LITERALS, '*', '*', '**', '**']),
    ),
    names: Array.from({ length: count }, () => segments(2, 6, LITERALS)),
  };
}
