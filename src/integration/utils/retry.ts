/**
 * Backoff policy shared by the outbox processor (rescheduling failed dispatches) and by
 * start-up connection retries. Pure: no timers here except in {@link retryAsync}, whose sleep
 * function can be replaced.
 */

import { unknownKeyProblems } from './closest-match';

/**
 * Longest delay a timer can wait and largest value of a PostgreSQL `integer`: 2^31 − 1 ms
 * (about 24.8 days). Node fires a `setTimeout`/`setInterval` with a longer delay after 1 ms, and
 * such a value overflows an `int` parameter, so every millisecond option is capped here.
 */
export const MAX_TIMER_DELAY_MS = 2_147_483_647;

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
  /** Delay cap before jitter for the first retry, in milliseconds (at most {@link MAX_TIMER_DELAY_MS}). @default 1000 */
  readonly baseDelayMs: number;
  /** Upper bound of any delay, in milliseconds (at most {@link MAX_TIMER_DELAY_MS}). @default 300000 (5 minutes) */
  readonly maxDelayMs: number;
  /** Total number of attempts, the first one included (at most 2^31 − 1). @default 10 */
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

/** Keys of a {@link RetryPolicy}: anything else in a policy is refused as a likely typo. */
const RETRY_POLICY_KEYS: readonly string[] = Object.keys({
  baseDelayMs: true,
  maxDelayMs: true,
  maxAttempts: true,
  jitter: true,
} satisfies Record<keyof RetryPolicy, true>);

/**
 * Returns the problems with a policy (empty when valid); each names the field and the fix.
 * Refuses unknown keys (naming the closest known one), non-integers, and delays above
 * {@link MAX_TIMER_DELAY_MS}.
 */
export function validateRetryPolicy(policy: Partial<RetryPolicy>, path = 'retry'): string[] {
  if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) {
    return [
      `${path} must be an object such as { maxAttempts: 5, baseDelayMs: 1000 } (got ${Array.isArray(policy) ? 'an array' : String(policy)})`,
    ];
  }
  const errors = unknownKeyProblems(policy, RETRY_POLICY_KEYS, path);
  const isInt = (v: unknown, min: number, max: number): v is number =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
  if (policy.baseDelayMs !== undefined && !isInt(policy.baseDelayMs, 0, MAX_TIMER_DELAY_MS)) {
    errors.push(
      `${path}.baseDelayMs must be an integer from 0 to ${MAX_TIMER_DELAY_MS} (got ${String(policy.baseDelayMs)})`,
    );
  }
  if (policy.maxDelayMs !== undefined && !isInt(policy.maxDelayMs, 0, MAX_TIMER_DELAY_MS)) {
    errors.push(
      `${path}.maxDelayMs must be an integer from 0 to ${MAX_TIMER_DELAY_MS} (got ${String(policy.maxDelayMs)})`,
    );
  }
  if (policy.maxAttempts !== undefined && !isInt(policy.maxAttempts, 1, MAX_TIMER_DELAY_MS)) {
    errors.push(
      `${path}.maxAttempts must be an integer from 1 to ${MAX_TIMER_DELAY_MS} (got ${String(policy.maxAttempts)})`,
    );
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
    isInt(policy.baseDelayMs, 0, MAX_TIMER_DELAY_MS) &&
    isInt(policy.maxDelayMs, 0, MAX_TIMER_DELAY_MS) &&
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
 * `min(maxDelayMs, baseDelayMs * 2^(attempt - 1))`, then jittered. Never above
 * {@link MAX_TIMER_DELAY_MS}, even for a policy that skipped {@link validateRetryPolicy}.
 *
 * @param random - source of randomness in `[0, 1)`; injectable for tests.
 */
export function computeBackoffDelay(
  policy: RetryPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(attempt - 1, 52));
  const ceiling = Math.min(
    policy.maxDelayMs,
    policy.baseDelayMs * 2 ** exponent,
    MAX_TIMER_DELAY_MS,
  );
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
