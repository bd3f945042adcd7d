import type { ResolvedIntegrationOptions } from '../integration.options';
import { KeyRunLimits } from './key-run-limits';

/** Only the batch size is read. */
const limitsWithBatch = (batchSize: number): KeyRunLimits =>
  new KeyRunLimits({ processor: { batchSize } } as ResolvedIntegrationOptions);

/** Records `n` outcomes one at a time, every `failEvery`-th a failure. */
function feed(limits: KeyRunLimits, consumer: string, n: number, failEvery: number): void {
  for (let i = 1; i <= n; i++) {
    const failed = i % failEvery === 0 ? 1 : 0;
    limits.record(consumer, 1 - failed, failed);
  }
}

describe('KeyRunLimits', () => {
  it('limits nothing while a consumer does not fail', () => {
    const limits = limitsWithBatch(100);
    limits.record('billing', 500, 0);
    limits.record('billing', 0, 0);
    expect(limits.limits(['billing', 'unknown'])).toEqual({});
  });

  it('caps runs at about half the distance between failures, at least 1, per consumer', () => {
    const limits = limitsWithBatch(100);
    feed(limits, 'one-in-five', 400, 5);
    feed(limits, 'one-in-twenty', 400, 20);
    limits.record('always', 0, 50);
    const now = limits.limits(['one-in-five', 'one-in-twenty', 'always', 'healthy']);
    // A failure rate of 0.2 gives 1 / (2 × 0.2) = 2.5. The average remembers about the last ten
    // outcomes, so right after a failure (both feeds end on one) the rate reads at least 0.1:
    // a rarer failure still caps runs at 5 for a while, and less than a steady 0.2 does.
    expect(now['one-in-five']).toBeGreaterThanOrEqual(2);
    expect(now['one-in-five']).toBeLessThanOrEqual(3);
    expect(now['one-in-twenty']).toBeGreaterThan(now['one-in-five']!);
    expect(now['one-in-twenty']).toBeLessThanOrEqual(5);
    expect(now.always).toBe(1);
    expect(now).not.toHaveProperty('healthy');
  });

  it('weighs a cycle of n outcomes as n outcomes, not as one', () => {
    const oneByOne = limitsWithBatch(100);
    const inOneCycle = limitsWithBatch(100);
    oneByOne.record('c', 0, 1);
    inOneCycle.record('c', 0, 1);
    for (let i = 0; i < 20; i++) oneByOne.record('c', 1, 0);
    inOneCycle.record('c', 20, 0);
    expect(inOneCycle.limits(['c'])).toEqual(oneByOne.limits(['c']));
    expect(inOneCycle.limits(['c']).c).toBeGreaterThan(1);
  });

  it('lifts the cap after a run of successes, and never caps at the batch size or above', () => {
    const limits = limitsWithBatch(100);
    limits.record('c', 0, 10);
    expect(limits.limits(['c'])).toEqual({ c: 1 });
    limits.record('c', 10, 0);
    expect(limits.limits(['c']).c).toBeGreaterThan(1);
    limits.record('c', 40, 0);
    expect(limits.limits(['c'])).toEqual({});

    const small = limitsWithBatch(2);
    feed(small, 'c', 100, 10);
    expect(small.limits(['c'])).toEqual({});
    small.record('c', 0, 5);
    expect(small.limits(['c'])).toEqual({ c: 1 });
  });
});
