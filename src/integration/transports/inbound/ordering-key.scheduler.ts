/**
 * Runs work items with at most `concurrency` at once, and one at a time per ordering key, in
 * the order they were pushed: the inbound module's lanes. Items of different keys overtake
 * each other; items of one key never do. A key whose item finishes goes to the back of the
 * ready keys, so one busy key cannot starve the others.
 *
 * Nothing is buffered beyond what is pushed: the broker's window (JetStream `max_ack_pending`,
 * RabbitMQ `prefetch`) bounds how many messages are in hand.
 */
export class OrderingKeyScheduler<T> {
  /** Waiting items per key (a key is here while it has an item running or waiting). */
  private readonly lanes = new Map<string, T[]>();
  /** Keys with waiting items and none running, in the order they became ready. */
  private readonly ready: string[] = [];
  private running = 0;
  private waiting = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    /** Runs one item; what it throws is its own business (the scheduler carries on). */
    private readonly run: (item: T) => Promise<void>,
  ) {}

  /** Items running or waiting. */
  get size(): number {
    return this.running + this.waiting;
  }

  /** Queues `item` behind the items of `key` already queued or running. */
  push(key: string, item: T): void {
    this.waiting++;
    const lane = this.lanes.get(key);
    if (lane) {
      lane.push(item);
      return;
    }
    this.lanes.set(key, [item]);
    this.ready.push(key);
    this.pump();
  }

  /** Resolves once nothing runs or waits. */
  whenIdle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (this.running < this.concurrency && this.ready.length > 0) {
      const key = this.ready.shift()!;
      const lane = this.lanes.get(key)!;
      const item = lane.shift()!;
      this.waiting--;
      this.running++;
      void this.run(item)
        .catch(() => undefined)
        .finally(() => {
          this.running--;
          if (lane.length > 0) this.ready.push(key);
          else this.lanes.delete(key);
          this.pump();
          if (this.size === 0) {
            const waiters = this.idleWaiters;
            this.idleWaiters = [];
            for (const resolve of waiters) resolve();
          }
        });
    }
  }
}
