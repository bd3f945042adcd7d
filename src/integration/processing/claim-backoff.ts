import { computeBackoffDelay, JitterMode } from '../utils/retry';

/** Longest pause of a loop after failed claims (unless the poll interval is longer). */
export const CLAIM_BACKOFF_MAX_MS = 30_000;

/**
 * How a processor loop backs off while its claims fail (database unreachable, tables missing):
 * exponentially from the poll interval up to {@link CLAIM_BACKOFF_MAX_MS}, so an outage costs one
 * log line and one statement per step rather than one per poll or NOTIFY.
 */
export class ClaimBackoff {
  /** Consecutive failures; 0 after a success. */
  private failures = 0;
  /** `Date.now()` before which no claim is tried again. */
  private retryAt = 0;

  constructor(private readonly pollIntervalMs: number) {}

  /** True while the loop should not claim. */
  get paused(): boolean {
    return this.failures > 0 && Date.now() < this.retryAt;
  }

  /** Records a failure; returns how many in a row and the pause before the next claim. */
  failed(): { failures: number; delayMs: number } {
    this.failures++;
    const delayMs = computeBackoffDelay(
      {
        baseDelayMs: this.pollIntervalMs,
        maxDelayMs: Math.max(this.pollIntervalMs, CLAIM_BACKOFF_MAX_MS),
        maxAttempts: Number.MAX_SAFE_INTEGER,
        jitter: JitterMode.None,
      },
      this.failures,
    );
    this.retryAt = Date.now() + delayMs;
    return { failures: this.failures, delayMs };
  }

  /** Ends a backoff; returns the failures it ended (0 when there was none). */
  succeeded(): number {
    const ended = this.failures;
    this.failures = 0;
    this.retryAt = 0;
    return ended;
  }
}
