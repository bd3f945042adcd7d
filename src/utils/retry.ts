/**
 * Backoff policy shared by the outbox processor (rescheduling failed dispatches) and by
 * start-up connection retries. Pure: no timers here except in {@link retryAsync}, whose sleep
 * function can be replaced.
 */

/** How delays between attempts are randomised. */
export enum JitterMode {
  /** Delay is uniformly random in `[0, exponential delay]` (AWS "full jitter"). */
  Full = 'full',
  /** Delay is `exponential / 2` plus a random value in `[0, exponential / 2]`. */
  Equal = 'equal',
  /** No randomness: exactly the exponential delay. */
  None = 'none',
}

/** An exponential backoff policy. */
export interface RetryPolicy {
  /** Delay cap before jitter for the first retry, in milliseconds. @default 1000 */
  readonly baseDelayMs: number;
  /** Upper bound of any delay, in milliseconds. @default 300000 (5 minutes) */
  readonly maxDelayMs: number;
  /** Total number of attempts, the first one included. @default 10 */
  readonly maxAttempts: number;
  /** Randomisation of each delay. @default JitterMode.Full */
  readonly jitter: JitterMode;
}

/** Defaults used where no policy is configured. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  maxAttempts: 10,
  jitter: JitterMode.Full,
});

/** Returns the problems with a policy (empty when valid); each names the field and the fix. */
export function validateRetryPolicy(policy: Partial<RetryPolicy>, path = 'retry'): string[] {
  const errors: string[] = [];
  const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
  if (policy.baseDelayMs !== undefined && (!isInt(policy.baseDelayMs) || policy.baseDelayMs < 0)) {
    errors.push(`${path}.baseDelayMs must be an integer >= 0 (got ${String(policy.baseDelayMs)})`);
  }
  if (policy.maxDelayMs !== undefined && (!isInt(policy.maxDelayMs) || policy.maxDelayMs < 0)) {
    errors.push(`${path}.maxDelayMs must be an integer >= 0 (got ${String(policy.maxDelayMs)})`);
  }
  if (policy.maxAttempts !== undefined && (!isInt(policy.maxAttempts) || policy.maxAttempts < 1)) {
    errors.push(`${path}.maxAttempts must be an integer >= 1 (got ${String(policy.maxAttempts)})`);
  }
  if (
    policy.jitter !== undefined &&
    !Object.values(JitterMode).includes(policy.jitter as JitterMode)
  ) {
    errors.push(
      `${path}.jitter must be one of ${Object.values(JitterMode).join(', ')} (got ${String(policy.jitter)})`,
    );
  }
  if (
    errors.length === 0 &&
    policy.baseDelayMs !== undefined &&
    policy.maxDelayMs !== undefined &&
    policy.baseDelayMs > policy.maxDelayMs
  ) {
    errors.push(`${path}.baseDelayMs (${policy.baseDelayMs}) must not exceed maxDelayMs`);
  }
  return errors;
}

/** Merges a partial policy over a base policy (defaults by default). */
export function resolveRetryPolicy(
  partial: Partial<RetryPolicy> | undefined,
  base: RetryPolicy = DEFAULT_RETRY_POLICY,
): RetryPolicy {
  return Object.freeze({ ...base, ...stripUndefined(partial ?? {}) });
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Exponential delay before the retry that follows failed attempt number `attempt` (1-based):
 * `min(maxDelayMs, baseDelayMs * 2^(attempt - 1))`, then jittered.
 *
 * @param random - source of randomness in `[0, 1)`; injectable for tests.
 */
export function computeBackoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  switch (policy.jitter) {
    case JitterMode.None:
      return Math.round(ceiling);
    case JitterMode.Equal:
      return Math.round(ceiling / 2 + random() * (ceiling / 2));
    case JitterMode.Full:
    default:
      return Math.round(random() * ceiling);
  }
}

/** True when another attempt is allowed after failed attempt number `attempt` (1-based). */
export function canRetry(policy: RetryPolicy, attempt: number): boolean {
  return attempt < policy.maxAttempts;
}

/** Options of {@link retryAsync}. */
export interface RetryAsyncOptions {
  readonly policy: RetryPolicy;
  /** Decides whether an error is worth another attempt. @default every error */
  readonly isRetryable?: (error: unknown) => boolean;
  /** Called before each wait, e.g. to log. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Waits; replaceable in tests. @default a timer */
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

/** Default sleep of {@link retryAsync}. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `fn` until it resolves, retrying with the policy's backoff. Rejects with the last error
 * once attempts are exhausted or the error is not retryable.
 */
export async function retryAsync<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryAsyncOptions,
): Promise<T> {
  const wait = options.sleep ?? sleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const retryable = options.isRetryable?.(error) ?? true;
      if (!retryable || !canRetry(options.policy, attempt)) throw error;
      const delay = computeBackoffDelay(options.policy, attempt, options.random);
      options.onRetry?.(error, attempt, delay);
      await wait(delay);
    }
  }
}
