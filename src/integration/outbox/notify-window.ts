/**
 * Which publishes send the NOTIFY that wakes the processors: at most one per `windowMs` per
 * publisher (per app instance). PostgreSQL holds its notification-queue lock from the commit of
 * a transaction that notified until that commit is flushed, so such commits cannot share a WAL
 * flush and go one after another; transactions that do not notify commit side by side as
 * usual. Under concurrency most publishes therefore skip it: the one that notified wakes the
 * processors, and their follow-up polls (`processor.followUpPollMs`) pick up events of
 * transactions that committed just after. A publisher whose publishes are further apart than
 * the window notifies every time.
 *
 * The NOTIFY of a publish goes out when its transaction commits, so the one that opened the
 * window announces the others only if it commits, and not before it does: one that rolls back,
 * or stays open for long, would leave the events published in its window unannounced until the
 * processors' next poll (`processor.idlePollIntervalMs`). So once publishing has been quiet for
 * {@link CLOSING_QUIET_WINDOWS} windows after a publish that sent none, the window sends one
 * NOTIFY of its own, outside any transaction (`close`): while publishing goes on, the next
 * window's NOTIFY does that job, and none is sent.
 */
export class NotifyWindow {
  /** When the last publish that notified began (`now()`), or never. */
  private lastAt = Number.NEGATIVE_INFINITY;
  /** When the last publish that sent no NOTIFY began, while its closing NOTIFY is due. */
  private skippedAt: number | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = false;

  /**
   * @param channel the channel to notify on, or `null` when NOTIFY is off.
   * @param windowMs 0: every publish notifies.
   * @param close sends the closing NOTIFY on `channel` (outside any transaction).
   * @param now a monotonic clock in ms.
   */
  constructor(
    private readonly channel: string | null,
    private readonly windowMs: number,
    private readonly close: (channel: string) => void,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The channel a publish starting now notifies on, or `null` when it sends no NOTIFY. */
  take(): string | null {
    if (this.channel === null || this.windowMs === 0) return this.channel;
    const now = this.now();
    if (now - this.lastAt < this.windowMs) {
      this.skippedAt = now;
      this.arm(this.windowMs * CLOSING_QUIET_WINDOWS);
      return null;
    }
    this.lastAt = now;
    return this.channel;
  }

  /** No closing NOTIFY any more (the app is shutting down). */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(delayMs: number): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => this.due(), delayMs);
    this.timer.unref();
  }

  /** Publishing was quiet for the whole delay since the last skipped publish: notify, else wait on. */
  private due(): void {
    this.timer = undefined;
    if (this.skippedAt === undefined || this.channel === null || this.stopped) return;
    const quietFor = this.now() - this.skippedAt;
    const needed = this.windowMs * CLOSING_QUIET_WINDOWS;
    if (quietFor < needed) {
      this.arm(needed - quietFor);
      return;
    }
    this.skippedAt = undefined;
    this.close(this.channel);
  }
}

/**
 * How many windows publishing must be quiet after a publish that sent no NOTIFY before the
 * window sends its closing NOTIFY (20 ms with the default 2 ms window).
 */
export const CLOSING_QUIET_WINDOWS = 10;
