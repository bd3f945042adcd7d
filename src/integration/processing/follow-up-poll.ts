/**
 * The processor's adaptive polling: after a run that claimed deliveries it looks again soon,
 * then twice as late after every run that found nothing, until the delay reaches the idle poll
 * interval (which goes on as always). Events no NOTIFY announced (publishes inside
 * `notify.windowMs`, a transaction that committed just after the run began, NOTIFY off) are
 * then picked up within a few ms while work keeps coming, and an idle processor costs nothing
 * more than its idle poll.
 */
export class FollowUpPoll {
  private timer?: NodeJS.Timeout;
  /** The delay of the next follow-up; 0: none is due (idle, or turned off). */
  private delayMs = 0;

  /**
   * @param firstMs the first follow-up's delay; 0 turns follow-ups off.
   * @param idleMs the idle poll interval, where follow-ups stop.
   * @param wake runs the processor.
   */
  constructor(
    private readonly firstMs: number,
    private readonly idleMs: number,
    private readonly wake: () => void,
  ) {}

  /** A run ended; `found`: it claimed deliveries. Schedules the next follow-up, if any. */
  ended(found: boolean): void {
    this.cancel();
    if (found) this.delayMs = this.firstMs;
    else if (this.delayMs > 0) this.delayMs *= 2;
    if (this.delayMs === 0 || this.delayMs >= this.idleMs) {
      this.delayMs = 0;
      return;
    }
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.wake();
    }, this.delayMs);
  }

  /** Forgets the backoff and cancels the pending follow-up (the processor stops). */
  stop(): void {
    this.cancel();
    this.delayMs = 0;
  }

  private cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
