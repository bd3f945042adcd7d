import { Injectable } from '@nestjs/common';

/**
 * Where each consumer's next claim starts looking at tenants. A claim considers at most
 * `CLAIM_TENANTS` tenants with pending deliveries per consumer, in tenant order; with more
 * tenants than that at once, always starting from the first would leave the last ones waiting
 * until the first ones ran dry. So when a claim's scan stops at its bound, the next one goes on
 * after the last tenant it looked at, and wraps around past the end: every tenant with pending
 * deliveries is looked at within `ceil(tenants / CLAIM_TENANTS)` claims. The order is the
 * database's (the claim compares tenants in SQL), never JavaScript's.
 *
 * Held per processor, in memory: another instance keeps its own cursors, and a restart starts
 * from the first tenant again. Nothing global.
 */
@Injectable()
export class TenantCursors {
  /** Per consumer, the last tenant of its last scan that stopped at the bound. */
  private readonly after = new Map<string, string>();

  /** The claim's parameter: per consumer, the tenant its scan goes on after (absent: the first). */
  starts(consumers: readonly string[]): Readonly<Record<string, string>> {
    const starts: Record<string, string> = {};
    for (const consumer of consumers) {
      const after = this.after.get(consumer);
      if (after !== undefined) starts[consumer] = after;
    }
    return starts;
  }

  /**
   * Records where a consumer's scan stopped: the last tenant it looked at when it stopped at
   * its bound, `null` when every tenant with pending deliveries fitted (the next scan starts
   * from the first tenant again).
   */
  record(consumer: string, stoppedAt: string | null): void {
    if (stoppedAt === null) this.after.delete(consumer);
    else this.after.set(consumer, stoppedAt);
  }
}
