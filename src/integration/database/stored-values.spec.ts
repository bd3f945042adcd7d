import { MAX_TIMER_DELAY_MS } from '../utils/retry';
import { clampDelay } from './stored-values';

describe('clampDelay (hardening #3)', () => {
  it('always yields an integer the settle can apply', () => {
    expect(clampDelay(undefined)).toBe(0);
    expect(clampDelay(Number.NaN)).toBe(0);
    expect(clampDelay(Number.POSITIVE_INFINITY)).toBe(0);
    expect(clampDelay(-3)).toBe(0);
    expect(clampDelay(1.6)).toBe(2);
    expect(clampDelay(2_592_000_000)).toBe(MAX_TIMER_DELAY_MS);
  });
});
