import { Injectable } from '@nestjs/common';
import type { ResolvedConsumerOptions } from '../subscribers/consumer-options';
import type { TransactionMode } from '../subscribers/handler.types';
import {
  canRetry,
  computeBackoffDelay,
  MAX_TIMER_DELAY_MS,
  resolveRetryPolicy,
  type RetryPolicy,
} from '../utils/retry';
import type { ClaimedDelivery, DeliveryFact, SettleDecision } from './delivery.types';

/**
 * The one place that decides what happens to a delivery after (or instead of) running it.
 * Pure: no I/O, no clock; the only randomness is the backoff's jitter.
 */
@Injectable()
export class SettlePolicy {
  /**
   * A consumer's retry policy: its `retry` merged over `processor.retry`.
   */
  retryPolicyOf(settings: ResolvedConsumerOptions, processorRetry: RetryPolicy): RetryPolicy {
    return resolveRetryPolicy(settings.retry, processorRetry);
  }

  /**
   * Before a claimed delivery runs: a delivery claimed beyond the attempts it is allowed (its
   * last lease expired unsettled, e.g. a handler that crashes the process every time, or
   * `maxAttempts` was lowered since) is dead-lettered without running its handlers again.
   * @returns that decision, or `undefined`: run it.
   */
  beforeRun(delivery: ClaimedDelivery, maxAttempts: number): SettleDecision | undefined {
    if (delivery.attempt <= maxAttempts) return undefined;
    return { action: 'dead-letter', error: exhaustedError(delivery, maxAttempts) };
  }

  /**
   * What follows the fact a runner reported for one delivery:
   * - `handled`: nothing (`none`) when the mark committed with the handlers' transaction;
   *   `processed` for consumers without a transaction (`mode` false), written now;
   * - `failed`: `retry` after the policy's backoff while it allows another attempt, else
   *   `dead-letter`;
   * - `not-started`: `release` (the attempt does not count);
   * - `lease-lost`: `none` (the delivery is another claim's now).
   */
  decide(
    delivery: ClaimedDelivery,
    fact: DeliveryFact,
    retry: RetryPolicy,
    mode: TransactionMode,
  ): SettleDecision {
    switch (fact.kind) {
      case 'handled':
        return mode === false ? { action: 'processed' } : { action: 'none' };
      case 'failed':
        if (!canRetry(retry, delivery.attempt)) return { action: 'dead-letter', error: fact.error };
        return {
          action: 'retry',
          delayMs: Math.min(MAX_TIMER_DELAY_MS, computeBackoffDelay(retry, delivery.attempt)),
          error: fact.error,
        };
      case 'not-started':
        return { action: 'release' };
      case 'lease-lost':
        return { action: 'none' };
    }
  }
}

/** Why a delivery claimed beyond its allowed attempts is dead-lettered, and what to do. */
function exhaustedError(delivery: ClaimedDelivery, allowed: number): string {
  const last = delivery.attempt - 1;
  const which =
    last === allowed ? `attempt ${last} (the last of ${allowed} allowed)` : `attempt ${last}`;
  const cause = delivery.leaseExpired
    ? `the lease of ${which} expired before it was settled, and no attempt is left: ` +
      'the worker probably crashed or stalled while handling it (e.g. a handler that kills the process, ' +
      'exhausts its memory or blocks the event loop)'
    : `its ${last} attempt(s) already reach the ${allowed} now allowed (maxAttempts was lowered since)`;
  const previous = delivery.lastError === null ? '' : ` Previous error: ${delivery.lastError}`;
  return (
    `Dead-lettered for consumer ${delivery.consumer} without running its handlers again: ${cause}. ` +
    `Fix the cause, then replay the delivery.${previous}`
  );
}
