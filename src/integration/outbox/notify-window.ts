/**
 * Which publishes send the NOTIFY that wakes the processors: at most one per `windowMs` per
 * publisher (per app instance). PostgreSQL holds its notification-queue lock from the commit of
 * a transaction that notified until that commit is flushed, so such commits cannot share a WAL
 * flush and go one after another; transactions that do not notify commit side by side as
 * usual. Under concurrency most publishes therefore skip it: the one that notified wakes the
 * processors, and their follow-up polls (`processor.followUpPollMs`) pick up events of
 * transactions that committed just after. A publisher whose publishes are further apart than
 * the window notifies every time.
 */
export class NotifyWindow {
  /** When the last publish that notified began (`now()`), or never. */
  private lastAt = Number.NEGATIVE_INFINITY;

  /**
   * @param channel the channel to notify on, or `null` when NOTIFY is off.
   * @param windowMs 0: every publish notifies.
   * @param now a monotonic clock in ms.
   */
  constructor(
    private readonly channel: string | null,
    private readonly windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The channel a publish starting now notifies on, or `null` when it sends no NOTIFY. */
  take(): string | null {
    if (this.channel === null || this.windowMs === 0) return this.channel;
    const now = this.now();
    if (now - this.lastAt < this.windowMs) return null;
    this.lastAt = now;
    return this.channel;
  }
}
