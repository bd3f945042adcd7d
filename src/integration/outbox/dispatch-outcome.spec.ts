import { MAX_TIMER_DELAY_MS } from '../utils/retry';
import { checkDispatchOutcome, describeValue } from './event-dispatcher';
import { clampDelay } from './outbox.repository';

const INVALID = 'dispatcher returned an invalid outcome';

describe('checkDispatchOutcome (hardening #3)', () => {
  it('passes valid outcomes through, keeping only the fields that matter', () => {
    expect(checkDispatchOutcome({ status: 'processed', extra: 1 })).toEqual({
      outcome: { status: 'processed' },
    });
    expect(checkDispatchOutcome({ status: 'deferred' })).toEqual({
      outcome: { status: 'deferred' },
    });
    expect(
      checkDispatchOutcome({ status: 'failed', error: 'e', delayMs: 5, final: false }),
    ).toEqual({ outcome: { status: 'failed', error: 'e', delayMs: 5, final: false } });
    expect(checkDispatchOutcome({ status: 'failed', error: 'e' })).toEqual({
      outcome: { status: 'failed', error: 'e' },
    });
  });

  it.each([
    [
      null,
      `${INVALID}: null (expected an object whose status is 'processed', 'failed' or 'deferred')`,
    ],
    [
      undefined,
      `${INVALID}: undefined (expected an object whose status is 'processed', 'failed' or 'deferred')`,
    ],
    [7, `${INVALID}: 7 (expected an object whose status is 'processed', 'failed' or 'deferred')`],
    [[], `${INVALID}: [] (expected an object whose status is 'processed', 'failed' or 'deferred')`],
    [{}, `${INVALID}: status undefined (expected 'processed', 'failed' or 'deferred')`],
    [
      { status: 'weird' },
      `${INVALID}: status "weird" (expected 'processed', 'failed' or 'deferred')`,
    ],
    [{ status: 'failed' }, `${INVALID}: error must be a string (got undefined)`],
    [
      { status: 'failed', error: 'x', delayMs: '5' },
      `${INVALID}: delayMs must be a finite number >= 0 (got "5"); its error: x`,
    ],
    [
      { status: 'failed', error: 'x', final: 'yes' },
      `${INVALID}: final must be true, false or undefined (got "yes"); its error: x`,
    ],
    [
      { status: 'failed', error: { code: 1 }, delayMs: Number.NaN },
      `${INVALID}: error must be a string (got {"code":1}); delayMs must be a finite number >= 0 (got NaN)`,
    ],
  ])('turns %p into a failure the processor policy settles', (value, error) => {
    const checked = checkDispatchOutcome(value);
    expect(checked.outcome).toEqual({ status: 'failed', error });
    expect(checked.problem).toBe(error.slice(INVALID.length + 2).replace(/; its error: x$/, ''));
  });

  it('clamps a delay above MAX_TIMER_DELAY_MS and says so', () => {
    expect(checkDispatchOutcome({ status: 'failed', error: 'e', delayMs: 2_592_000_000 })).toEqual({
      outcome: { status: 'failed', error: 'e', delayMs: MAX_TIMER_DELAY_MS },
      problem: `delayMs 2592000000 clamped to ${MAX_TIMER_DELAY_MS} (MAX_TIMER_DELAY_MS)`,
    });
  });
});

describe('describeValue', () => {
  it('renders anything briefly and never throws', () => {
    expect(describeValue(undefined)).toBe('undefined');
    expect(describeValue(10n)).toBe('10');
    expect(describeValue(() => 1)).toBe('function');
    expect(describeValue(Symbol('s'))).toBe('symbol');
    expect(describeValue('x'.repeat(500))).toHaveLength(200);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(describeValue(cyclic)).toBe('[object Object]');
  });
});

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
