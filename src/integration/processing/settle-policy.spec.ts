import type { ResolvedConsumerOptions } from '../subscribers/consumer-options';
import type { TransactionMode } from '../subscribers/handler.types';
import { JitterMode, MAX_TIMER_DELAY_MS, type RetryPolicy } from '../utils/retry';
import type { ClaimedDelivery, DeliveryFact } from './delivery.types';
import { SettlePolicy } from './settle-policy';

const delivery = (attempt: number, extra: Partial<ClaimedDelivery> = {}): ClaimedDelivery => ({
  eventId: '0193a4c2-0000-7000-8000-000000000001',
  consumer: 'billing',
  position: '7',
  orderingKey: 'Vault:v1',
  attempt,
  leaseExpired: false,
  lastError: null,
  event: {
    id: '0193a4c2-0000-7000-8000-000000000001',
    seq: '7',
    name: 'vault.locked',
    version: 1,
    sourceModule: 'vault',
    aggregateType: 'Vault',
    aggregateId: 'v1',
    orderingKey: 'Vault:v1',
    payload: {},
    headers: {},
    tenantId: null,
    correlationId: null,
    causationId: null,
    idempotencyKey: null,
    createdAt: new Date('2026-11-30T12:00:00Z'),
  },
  ...extra,
});

/** Exact delays: 100 ms doubling, capped at 1 s; 3 attempts. */
const policy: RetryPolicy = {
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  maxAttempts: 3,
  jitter: JitterMode.None,
};
const modes: TransactionMode[] = ['batch', 'per-event', false];
const handled: DeliveryFact = { kind: 'handled', durationMs: 3 };
const failed: DeliveryFact = { kind: 'failed', error: 'Error: boom', durationMs: 4 };

describe('SettlePolicy (delivery core v2, issue 13)', () => {
  const settle = new SettlePolicy();

  describe.each(modes)('transactional %p', (mode) => {
    it('handled: none when the mark committed in the transaction, processed without one', () => {
      expect(settle.decide(delivery(1), handled, policy, mode)).toEqual(
        mode === false ? { action: 'processed' } : { action: 'none' },
      );
    });

    it('failed with attempts left: retry after the backoff of that attempt', () => {
      expect(settle.decide(delivery(1), failed, policy, mode)).toEqual({
        action: 'retry',
        delayMs: 100,
        error: 'Error: boom',
      });
      expect(settle.decide(delivery(2), failed, policy, mode)).toEqual({
        action: 'retry',
        delayMs: 200,
        error: 'Error: boom',
      });
    });

    it('failed on the last allowed attempt (and beyond): dead-letter with the error', () => {
      expect(settle.decide(delivery(3), failed, policy, mode)).toEqual({
        action: 'dead-letter',
        error: 'Error: boom',
      });
      expect(settle.decide(delivery(4), failed, policy, mode)).toEqual({
        action: 'dead-letter',
        error: 'Error: boom',
      });
    });

    it('not-started: release (the attempt does not count)', () => {
      expect(settle.decide(delivery(3), { kind: 'not-started' }, policy, mode)).toEqual({
        action: 'release',
      });
    });

    it('lease-lost: none (another claim owns the delivery)', () => {
      expect(settle.decide(delivery(1), { kind: 'lease-lost' }, policy, mode)).toEqual({
        action: 'none',
      });
    });
  });

  it('caps the retry delay at maxDelayMs and MAX_TIMER_DELAY_MS', () => {
    const decided = settle.decide(delivery(20), failed, { ...policy, maxAttempts: 50 }, 'batch');
    expect(decided).toEqual({ action: 'retry', delayMs: 1_000, error: 'Error: boom' });
    // A policy that skipped validation still never yields a delay a timer cannot hold.
    const huge = { ...policy, maxAttempts: 50, baseDelayMs: 2 ** 40, maxDelayMs: 2 ** 41 };
    expect(settle.decide(delivery(10), failed, huge, 'batch')).toMatchObject({
      action: 'retry',
      delayMs: MAX_TIMER_DELAY_MS,
    });
  });

  it('jittered delays stay within the backoff of the attempt', () => {
    const full = { ...policy, jitter: JitterMode.Full };
    for (let i = 0; i < 50; i++) {
      const decided = settle.decide(delivery(2), failed, full, 'per-event');
      expect(decided.action).toBe('retry');
      const { delayMs } = decided as { delayMs: number };
      expect(delayMs).toBeGreaterThanOrEqual(0);
      expect(delayMs).toBeLessThanOrEqual(200);
    }
  });

  it('a single allowed attempt dead-letters the first failure', () => {
    expect(settle.decide(delivery(1), failed, { ...policy, maxAttempts: 1 }, 'batch')).toEqual({
      action: 'dead-letter',
      error: 'Error: boom',
    });
  });

  describe('beforeRun', () => {
    it('runs a delivery up to and including its last allowed attempt', () => {
      expect(settle.beforeRun(delivery(1), 3)).toBeUndefined();
      expect(settle.beforeRun(delivery(3), 3)).toBeUndefined();
    });

    it('dead-letters a delivery claimed beyond its attempts after a crash loop, saying to fix the cause then replay', () => {
      const decided = settle.beforeRun(
        delivery(4, { leaseExpired: true, lastError: 'Error: first' }),
        3,
      );
      expect(decided).toMatchObject({ action: 'dead-letter' });
      const error = (decided as { error: string }).error;
      expect(error).toContain('billing');
      expect(error).toContain('the lease of attempt 3 (the last of 3 allowed) expired');
      expect(error).toContain('crashed or stalled');
      expect(error).toContain('Fix the cause, then replay');
      expect(error).toContain('Previous error: Error: first');
    });

    it('explains a lowered maxAttempts when no lease expired', () => {
      const decided = settle.beforeRun(delivery(6), 2);
      expect((decided as { error: string }).error).toContain(
        'its 5 attempt(s) already reach the 2 now allowed (maxAttempts was lowered since)',
      );
      expect((decided as { error: string }).error).not.toContain('Previous error');
    });
  });

  it('retryPolicyOf merges the consumer retry over the processor policy', () => {
    const settings = (retry?: Partial<RetryPolicy>): ResolvedConsumerOptions => ({
      transactional: 'batch',
      concurrency: 1,
      startFrom: 'now',
      retry,
    });
    expect(settle.retryPolicyOf(settings(), policy)).toEqual(policy);
    expect(settle.retryPolicyOf(settings({ maxAttempts: 9, jitter: undefined }), policy)).toEqual({
      ...policy,
      maxAttempts: 9,
    });
  });
});
