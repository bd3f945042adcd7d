import { TransportClosedError } from '../errors/transport-closed.error';
import type {
  IncomingMessage,
  IncomingMessageHandler,
  IntegrationTransport,
  OutgoingMessage,
  TransportSubscription,
} from './integration-transport';
import { INTEGRATION_HEADERS } from './transport-headers';

/** A message stored by an {@link InMemoryTransport}. */
export interface StoredMessage extends OutgoingMessage {
  /** 1-based position in the transport's log. */
  readonly sequence: number;
}

/** A dead letter of an {@link InMemoryTransport}: the message plus the error headers. */
export interface InMemoryDeadLetter extends StoredMessage {
  readonly error: string;
  readonly deliveryCount: number;
}

/** Options of an {@link InMemoryTransport}. */
export interface InMemoryTransportOptions {
  /**
   * Messages handed over and not yet settled at once (a broker's `max_ack_pending` or
   * `prefetch`).
   * @default 64
   */
  readonly window?: number;
}

/**
 * A broker in memory, for tests and as the smallest example of a transport: `publish` appends
 * to a log (dropping a message id it already holds, as JetStream's duplicate window does),
 * `subscribe` hands the log's messages to the handler in order, up to `window` unsettled at
 * once; a message given back with `retry(delay)` is handed over again after its delay, before
 * any later message not yet handed over. Nothing survives the process.
 *
 * ```ts
 * const transport = new InMemoryTransport();
 * IntegrationRelayModule.forRoot({ consumer: 'broker-relay', events: ['vault.*'], transport });
 * // later: expect(transport.messages.map((m) => m.name)).toEqual([...]);
 * ```
 */
export class InMemoryTransport implements IntegrationTransport {
  readonly name = 'in-memory';
  /** Every stored message, in publish order. */
  readonly messages: StoredMessage[] = [];
  /** Messages moved to the dead-letter list, with their error. */
  readonly deadLetters: InMemoryDeadLetter[] = [];
  /** Publish calls so far, duplicates included. */
  publishCalls = 0;
  /** Most messages unsettled at once so far (what the window allowed). */
  maxInHand = 0;
  /**
   * Set to make `publish` reject (a broker outage): called for each message, a returned error
   * rejects that publish.
   */
  failPublish?: (message: OutgoingMessage) => Error | undefined;

  private readonly ids = new Set<string>();
  private readonly window: number;
  private connected = false;
  private closed = false;
  private wake?: () => void;

  constructor(options: InMemoryTransportOptions = {}) {
    this.window = options.window ?? 64;
  }

  async connect(): Promise<void> {
    if (this.closed) throw new TransportClosedError(this.name, 'connect');
    this.connected = true;
  }

  async publish(message: OutgoingMessage): Promise<void> {
    if (!this.connected || this.closed) throw new TransportClosedError(this.name, 'publish');
    this.publishCalls++;
    const failure = this.failPublish?.(message);
    if (failure) throw failure;
    if (this.ids.has(message.id)) return;
    this.ids.add(message.id);
    this.messages.push({
      ...message,
      headers: { ...message.headers },
      sequence: this.messages.length + 1,
    });
    this.wake?.();
  }

  async subscribe(handler: IncomingMessageHandler): Promise<TransportSubscription> {
    if (!this.connected || this.closed) throw new TransportClosedError(this.name, 'subscribe');
    let stopped = false;
    let next = 0;
    let inHand = 0;
    /** Messages given back and due again, by sequence. */
    const again: StoredMessage[] = [];
    const deliveries = new Map<number, number>();
    const timers = new Set<NodeJS.Timeout>();
    let signal: (() => void) | undefined;
    let drained: (() => void) | undefined;
    const poke = () => {
      const s = signal;
      signal = undefined;
      s?.();
      if (inHand === 0) drained?.();
    };
    this.wake = poke;
    const giveBack = (stored: StoredMessage, delayMs: number) => {
      if (stopped) return;
      const timer = setTimeout(() => {
        timers.delete(timer);
        again.push(stored);
        again.sort((a, b) => a.sequence - b.sequence);
        poke();
      }, delayMs);
      timers.add(timer);
    };
    const loop = (async () => {
      while (!stopped) {
        const stored = inHand < this.window ? (again.shift() ?? this.messages[next]) : undefined;
        if (!stored) {
          await new Promise<void>((resolve) => (signal = resolve));
          continue;
        }
        if (stored === this.messages[next]) next++;
        const count = (deliveries.get(stored.sequence) ?? 0) + 1;
        deliveries.set(stored.sequence, count);
        inHand++;
        this.maxInHand = Math.max(this.maxInHand, inHand);
        let settled = false;
        const settle = (then?: () => void) => {
          if (settled) return;
          settled = true;
          inHand--;
          then?.();
          poke();
        };
        const message = this.incoming(stored, count, settle, giveBack);
        try {
          await handler(message);
        } catch {
          // A handler that throws without settling: redeliver soon, as a broker would.
          settle(() => giveBack(stored, 100));
        }
      }
    })();
    return {
      close: async () => {
        stopped = true;
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        poke();
        await loop;
        if (inHand > 0) await new Promise<void>((resolve) => (drained = resolve));
      },
    };
  }

  private incoming(
    stored: StoredMessage,
    deliveryCount: number,
    settle: (then?: () => void) => void,
    giveBack: (stored: StoredMessage, delayMs: number) => void,
  ): IncomingMessage {
    return {
      id: stored.id,
      subject: stored.name,
      headers: stored.headers,
      payload: stored.payload,
      deliveryCount,
      sequence: String(stored.sequence),
      ack: async () => settle(),
      retry: async (delayMs) => settle(() => giveBack(stored, delayMs)),
      deadLetter: async (error, attempts = deliveryCount) =>
        settle(() =>
          this.deadLetters.push({
            ...stored,
            headers: {
              ...stored.headers,
              [INTEGRATION_HEADERS.error]: error,
              [INTEGRATION_HEADERS.deliveries]: String(attempts),
            },
            error,
            deliveryCount: attempts,
          }),
        ),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    this.wake?.();
  }
}
