import type { DeliveryFact } from '../delivery.types';
import type { ConsumerBatch } from './consumer-runner';

/**
 * The facts of one batch as a runner learns them, by position in `batch.deliveries`, and the
 * ordering rule every runner keeps: after a delivery of a key failed (or its lease was lost),
 * the key's later deliveries do not start; once the processor is stopping, nothing starts.
 */
export class FactLedger {
  private readonly facts = new Map<number, DeliveryFact>();
  /** Per ordering key, the position of its first delivery that failed or lost its lease. */
  private readonly blockedKeys = new Map<string, number>();

  constructor(private readonly batch: ConsumerBatch) {}

  /** Whether delivery `i` has a fact already. */
  has(i: number): boolean {
    return this.facts.has(i);
  }

  /** Records the fact of delivery `i`; `failed` and `lease-lost` block its key from `i` on. */
  record(i: number, fact: DeliveryFact): void {
    this.facts.set(i, fact);
    if (fact.kind !== 'failed' && fact.kind !== 'lease-lost') return;
    const key = this.batch.deliveries[i]!.orderingKey;
    this.blockedKeys.set(key, Math.min(this.blockedKeys.get(key) ?? i, i));
  }

  /**
   * Whether delivery `i` may start now: false (and recorded `not-started`) when an earlier
   * delivery of its key failed or lost its lease, or the processor is stopping.
   */
  mayStart(i: number): boolean {
    const blockedAt = this.blockedKeys.get(this.batch.deliveries[i]!.orderingKey);
    if ((blockedAt !== undefined && i > blockedAt) || this.batch.isStopping()) {
      this.facts.set(i, { kind: 'not-started' });
      return false;
    }
    return true;
  }

  /** Whether an earlier delivery of `i`'s key is blocked (failed or lost its lease). */
  isBlocked(i: number): boolean {
    const blockedAt = this.blockedKeys.get(this.batch.deliveries[i]!.orderingKey);
    return blockedAt !== undefined && i > blockedAt;
  }

  /** A copy to go back to when a transaction is run again (nothing of it counted). */
  copy(): FactLedger {
    const copy = new FactLedger(this.batch);
    for (const [i, fact] of this.facts) copy.facts.set(i, fact);
    for (const [key, i] of this.blockedKeys) copy.blockedKeys.set(key, i);
    return copy;
  }

  /** One fact per delivery, in batch order; a delivery never reached is `not-started`. */
  result(): DeliveryFact[] {
    return this.batch.deliveries.map((_, i) => this.facts.get(i) ?? { kind: 'not-started' });
  }
}
