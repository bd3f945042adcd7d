import {
  canRetry,
  computeBackoffDelay,
  DEFAULT_RETRY_POLICY,
  JitterMode,
  resolveRetryPolicy,
  retryAsync,
  MAX_TIMER_DELAY_MS,
  sleep,
  validateRetryPolicy,
  type RetryPolicy,
} from './retry';

describe('retry policy', () => {
  const policy = resolveRetryPolicy({
    baseDelayMs: 100,
    maxDelayMs: 1_000,
    maxAttempts: 5,
    jitter: JitterMode.None,
  });

  it('grows exponentially from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => computeBackoffDelay(policy, a))).toEqual([
      100, 200, 400, 800, 1_000, 1_000,
    ]);
  });

  it('full jitter draws uniformly below the exponential delay', () => {
    const full = { ...policy, jitter: JitterMode.Full };
    expect(computeBackoffDelay(full, 3, () => 0)).toBe(0);
    expect(computeBackoffDelay(full, 3, () => 0.5)).toBe(200);
    expect(computeBackoffDelay(full, 3, () => 0.999999)).toBe(400);
  });

  it('equal jitter keeps at least half of the exponential delay', () => {
    const equal = { ...policy, jitter: JitterMode.Equal };
    expect(computeBackoffDelay(equal, 3, () => 0)).toBe(200);
    expect(computeBackoffDelay(equal, 3, () => 1)).toBe(400);
  });

  it('never overflows on huge attempt numbers', () => {
    expect(computeBackoffDelay(policy, 10_000)).toBe(1_000);
    expect(computeBackoffDelay(policy, 0)).toBe(100);
  });

  it('allows retries until maxAttempts attempts were made', () => {
    expect(canRetry(policy, 4)).toBe(true);
    expect(canRetry(policy, 5)).toBe(false);
  });

  it('merges partial policies over the defaults, ignoring undefined fields', () => {
    expect(resolveRetryPolicy({ maxAttempts: 3, baseDelayMs: undefined })).toEqual({
      ...DEFAULT_RETRY_POLICY,
      maxAttempts: 3,
    });
    expect(resolveRetryPolicy(undefined)).toEqual(DEFAULT_RETRY_POLICY);
  });

  it('validates each field with a message naming it', () => {
    expect(validateRetryPolicy(DEFAULT_RETRY_POLICY)).toEqual([]);
    expect(
      validateRetryPolicy(
        { baseDelayMs: -1, maxDelayMs: 1.5, maxAttempts: 0, jitter: 'sometimes' as JitterMode },
        'processor.retry',
      ),
    ).toEqual([
      'processor.retry.baseDelayMs must be an integer from 0 to 2147483647 (got -1)',
      'processor.retry.maxDelayMs must be an integer from 0 to 2147483647 (got 1.5)',
      'processor.retry.maxAttempts must be an integer from 1 to 2147483647 (got 0)',
      'processor.retry.jitter must be one of full, equal, none (got sometimes)',
    ]);
    expect(validateRetryPolicy({ baseDelayMs: 10, maxDelayMs: 5 })).toEqual([
      'retry.baseDelayMs (10) must not exceed maxDelayMs',
    ]);
  });
});

describe('retry policy limits', () => {
  it('refuses delays a timer or an SQL integer cannot hold (hardening #3)', () => {
    expect(MAX_TIMER_DELAY_MS).toBe(2 ** 31 - 1);
    expect(
      validateRetryPolicy({ baseDelayMs: MAX_TIMER_DELAY_MS, maxDelayMs: MAX_TIMER_DELAY_MS }),
    ).toEqual([]);
    expect(
      validateRetryPolicy(
        { baseDelayMs: 2_592_000_000, maxDelayMs: 2_592_000_000, maxAttempts: 2 ** 31 },
        'processor.retry',
      ),
    ).toEqual([
      'processor.retry.baseDelayMs must be an integer from 0 to 2147483647 (got 2592000000)',
      'processor.retry.maxDelayMs must be an integer from 0 to 2147483647 (got 2592000000)',
      'processor.retry.maxAttempts must be an integer from 1 to 2147483647 (got 2147483648)',
    ]);
    expect(validateRetryPolicy({ maxDelayMs: Infinity, baseDelayMs: NaN })).toEqual([
      'retry.baseDelayMs must be an integer from 0 to 2147483647 (got NaN)',
      'retry.maxDelayMs must be an integer from 0 to 2147483647 (got Infinity)',
    ]);
  });

  it('never computes a delay above the timer limit, even for an unvalidated policy (hardening #3)', () => {
    const huge = resolveRetryPolicy({
      baseDelayMs: 2_592_000_000,
      maxDelayMs: 2_592_000_000,
      jitter: JitterMode.None,
    });
    expect(computeBackoffDelay(huge, 1)).toBe(MAX_TIMER_DELAY_MS);
    expect(computeBackoffDelay({ ...huge, jitter: JitterMode.Equal }, 5, () => 1)).toBe(
      MAX_TIMER_DELAY_MS,
    );
  });

  it('refuses unknown keys and non-objects, naming the closest key (hardening #8)', () => {
    expect(
      validateRetryPolicy(
        { maxAttempt: 3, basedelayMs: 5 } as Partial<RetryPolicy>,
        'processor.retry',
      ),
    ).toEqual([
      'processor.retry.maxAttempt is not an option: did you mean processor.retry.maxAttempts? (known: baseDelayMs, maxDelayMs, maxAttempts, jitter)',
      'processor.retry.basedelayMs is not an option: did you mean processor.retry.baseDelayMs? (known: baseDelayMs, maxDelayMs, maxAttempts, jitter)',
    ]);
    for (const [bad, got] of [
      [null, 'null'],
      [5, '5'],
      ['x', 'x'],
      [[1], 'an array'],
    ]) {
      expect(validateRetryPolicy(bad as unknown as Partial<RetryPolicy>)).toEqual([
        `retry must be an object such as { maxAttempts: 5, baseDelayMs: 1000 } (got ${String(got)})`,
      ]);
    }
  });
});

describe('retryAsync', () => {
  const policy = resolveRetryPolicy({
    baseDelayMs: 10,
    maxDelayMs: 100,
    maxAttempts: 4,
    jitter: JitterMode.None,
  });

  it('returns the first success and waits the policy delays between failures', async () => {
    const waits: number[] = [];
    const retries: number[] = [];
    let calls = 0;
    const result = await retryAsync(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'done';
      },
      {
        policy,
        sleep: async (ms) => {
          waits.push(ms);
        },
        onRetry: (_e, attempt) => retries.push(attempt),
      },
    );
    expect(result).toBe('done');
    expect(calls).toBe(3);
    expect(waits).toEqual([10, 20]);
    expect(retries).toEqual([1, 2]);
  });

  it('rethrows the last error after maxAttempts', async () => {
    let calls = 0;
    await expect(
      retryAsync(
        async () => {
          calls++;
          throw new Error(`fail ${calls}`);
        },
        { policy, sleep: async () => undefined },
      ),
    ).rejects.toThrow('fail 4');
    expect(calls).toBe(4);
  });

  it('does not retry errors the predicate rejects', async () => {
    let calls = 0;
    await expect(
      retryAsync(
        async () => {
          calls++;
          throw new TypeError('bad config');
        },
        { policy, sleep: async () => undefined, isRetryable: (e) => !(e instanceof TypeError) },
      ),
    ).rejects.toThrow('bad config');
    expect(calls).toBe(1);
  });

  it('sleeps with a real timer by default', async () => {
    jest.useFakeTimers();
    try {
      let done = false;
      const p = sleep(50).then(() => {
        done = true;
      });
      await jest.advanceTimersByTimeAsync(49);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await p;
      expect(done).toBe(true);
    } finally {
      jest.useRealTimers();
    }
  });
});
