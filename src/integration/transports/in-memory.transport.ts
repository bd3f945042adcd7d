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

/**
 * A broker in memory, for tests and as the smallest example of a transport: `publish` appends
 * to a log (dropping a message id it already holds, as JetStream's duplicate window does),
 * `subscribe` hands the log's messages to the handler one at a time in order, redelivering a
 * retried message (after its delay) before any later one. Nothing survives the process.
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
  /**
   * Set to make `publish` reject (a broker outage): called for each message, a returned error
   * rejects that publish.
   */
  failPublish?: (message: OutgoingMessage) => Error | undefined;

  private readonly ids = new Set<string>();
  private connected = false;
  private closed = false;
  private wake?: () => void;

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
    let deliveries = 0;
    const loop = (async () => {
      while (!stopped) {
        const stored = this.messages[next];
        if (!stored) {
          await new Promise<void>((resolve) => (this.wake = resolve));
          continue;
        }
        deliveries++;
        const outcome = await this.deliver(stored, deliveries, handler);
        if (outcome.kind === 'retry') {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, outcome.delayMs);
            this.wake = () => {
              if (stopped) {
                clearTimeout(timer);
                resolve();
              }
            };
          });
          continue;
        }
        next++;
        deliveries = 0;
      }
    })();
    return {
      close: async () => {
        stopped = true;
        this.wake?.();
        await loop;
      },
    };
  }

  private async deliver(
    stored: StoredMessage,
    deliveryCount: number,
    handler: IncomingMessageHandler,
  ): Promise<{ kind: 'settled' } | { kind: 'retry'; delayMs: number }> {
    let outcome: { kind: 'settled' } | { kind: 'retry'; delayMs: number } | undefined;
    const message: IncomingMessage = {
      id: stored.id,
      subject: stored.name,
      headers: stored.headers,
      payload: stored.payload,
      deliveryCount,
      sequence: String(stored.sequence),
      ack: async () => void (outcome = { kind: 'settled' }),
      retry: async (delayMs) => void (outcome = { kind: 'retry', delayMs }),
      deadLetter: async (error) => {
        this.deadLetters.push({
          ...stored,
          headers: {
            ...stored.headers,
            [INTEGRATION_HEADERS.error]: error,
            [INTEGRATION_HEADERS.deliveries]: String(deliveryCount),
          },
          error,
          deliveryCount,
        });
        outcome = { kind: 'settled' };
      },
    };
    try {
      await handler(message);
    } catch {
      // A handler that throws without settling: redeliver soon, as a broker would.
    }
    return outcome ?? { kind: 'retry', delayMs: 100 };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.connected = false;
    this.wake?.();
  }
}
