import { Logger } from '@nestjs/common';
import type * as Amqplib from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import { TransportClosedError } from '../../errors/transport-closed.error';
import { errorMessage } from '../../utils/describe';
import type {
  IncomingMessage,
  IncomingMessageHandler,
  IntegrationTransport,
  OutgoingMessage,
  TransportSubscription,
} from '../integration-transport';
import { INTEGRATION_HEADERS } from '../transport-headers';
import { loadAmqplib } from './rabbitmq-client.loader';
import {
  rabbitMqOptionProblems,
  type RabbitMqInboundOptions,
  type RabbitMqTransportOptions,
} from './rabbitmq-transport.options';

/** Longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 5_000;
/** Longest header value the transport writes for an error. */
const MAX_ERROR_HEADER = 2_000;

/** The consuming side, kept across reconnections. */
interface ConsumerState {
  readonly handler: IncomingMessageHandler;
  readonly inbound: RabbitMqInboundOptions;
  stopped: boolean;
  /** Messages are handed over one after another, in delivery order. */
  chain: Promise<void>;
  tag?: string;
  channel?: Channel;
  /** Messages handed over and not settled yet (at most `prefetch` per channel). */
  inHand: number;
  /** Resolves the close's wait for the messages in hand. */
  drained?: () => void;
  /** End retries' waits early at shutdown. */
  readonly wakes: Set<() => void>;
}

/** Unacknowledged messages per consumer channel, unless `inbound.prefetch` says otherwise. */
const DEFAULT_PREFETCH = 64;

/**
 * RabbitMQ as an {@link IntegrationTransport}, on `amqplib` (an optional peer loaded at
 * `connect`). The connection is re-established after a loss (publishes fail meanwhile, and the
 * relay retries them), and also when the broker closes one of its channels or cancels the
 * consumer (an exchange or queue deleted): the new connection declares the topology again.
 *
 * - Outbound: publishes to a durable topic exchange with routing key `routingKey(event name)`,
 *   persistent, `message-id` = event id, `mandatory` (a message no queue takes is rejected), on
 *   a confirm channel: resolves on the broker's confirm.
 * - Inbound: a durable classic queue bound to the exchange, consumed with `prefetch` 64 by
 *   default (the messages handed over and not settled at once); `ack` after the commit; `retry`
 *   waits its delay, then requeues the message at its place (`nack` with requeue); a lost
 *   connection requeues every unsettled message at its place too; `deadLetter` publishes a copy (headers +
 *   error) to the dead-letter queue, waits for its confirm, then acks the original. Classic
 *   queues do not count deliveries: the transport counts them per message id in memory (a
 *   redelivered message seen first after a restart counts as its second delivery).
 */
export class RabbitMqTransport implements IntegrationTransport {
  readonly name = 'rabbitmq';
  private readonly logger = new Logger('RabbitMqTransport');
  private amqp?: typeof Amqplib;
  private connecting?: Promise<void>;
  private connection?: ChannelModel;
  private publisher?: ConfirmChannel;
  private consumer?: ConsumerState;
  private reconnectTimer?: NodeJS.Timeout;
  private closed = false;
  private readonly returned = new Set<string>();
  private readonly deliveries = new Map<string, number>();

  /**
   * @throws InvalidTransportOptionsError when an option is invalid.
   * @param load - how to load `amqplib`; replaceable in tests. @default require
   */
  constructor(
    private readonly options: RabbitMqTransportOptions = {},
    private readonly load?: (id: string) => unknown,
  ) {
    const problems = rabbitMqOptionProblems(options);
    if (problems.length) throw new InvalidTransportOptionsError('rabbitMqTransport', problems);
  }

  private get exchange(): string {
    return this.options.exchange ?? 'integration.events';
  }

  /** Connects once (later calls share the connection) and declares the topology. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(new TransportClosedError(this.name, 'connect'));
    this.connecting ??= (async () => {
      this.amqp = loadAmqplib(this.load);
      await this.establish();
    })();
    return this.connecting;
  }

  /** Opens the connection and the publisher channel, declares the topology, consumes again. */
  private async establish(): Promise<void> {
    const connection = await this.amqp!.connect(
      this.options.url ?? 'amqp://guest:guest@127.0.0.1:5672',
    );
    try {
      connection.on('error', (error: unknown) =>
        this.logger.warn(`RabbitMQ connection error: ${errorMessage(error)}`),
      );
      connection.on('close', () => this.lost(connection));
      const publisher = await connection.createConfirmChannel();
      publisher.on('error', (error: unknown) =>
        this.logger.warn(`RabbitMQ channel error: ${errorMessage(error)}`),
      );
      // Closed by the broker (its exchange deleted, say): every later publish would fail.
      publisher.on('close', () => this.restart(connection, 'RabbitMQ publisher channel closed'));
      publisher.on('return', (message: ConsumeMessage) => {
        const id = message.properties.messageId as string | undefined;
        if (id) this.returned.add(id);
      });
      await publisher.assertExchange(this.exchange, 'topic', { durable: true });
      const inbound = this.options.inbound;
      if (inbound) {
        await publisher.assertQueue(inbound.queue, { durable: true });
        for (const pattern of inbound.bindings ?? ['#'])
          await publisher.bindQueue(inbound.queue, this.exchange, pattern);
        await publisher.assertQueue(deadLetterQueue(inbound), { durable: true });
      }
      this.connection = connection;
      this.publisher = publisher;
      if (this.consumer && !this.consumer.stopped) await this.consume(this.consumer);
    } catch (error) {
      await connection.close().catch(() => undefined);
      throw error;
    }
  }

  /** The connection closed: reconnect unless the transport was closed. */
  private lost(connection: ChannelModel, reason = 'RabbitMQ connection lost'): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.publisher = undefined;
    if (this.consumer) this.consumer.channel = undefined;
    if (this.closed) return;
    this.logger.warn(`${reason}: reconnecting`);
    this.reconnect(this.options.reconnectDelayMs ?? 100);
  }

  /**
   * A channel of `connection` closed, or the broker cancelled the consumer (its queue was
   * deleted), while the connection is up: start over as after a lost connection, so that a new
   * connection declares the topology again and consumes. A turn later: when the connection
   * itself closes, its channels close first, and by then {@link lost} has run.
   */
  private restart(connection: ChannelModel, reason: string): void {
    setImmediate(() => {
      if (this.closed || this.connection !== connection) return;
      this.lost(connection, reason);
      void connection.close().catch(() => undefined);
    });
  }

  private reconnect(delayMs: number): void {
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      if (this.closed) return;
      this.establish().then(
        () => this.logger.warn('RabbitMQ reconnected'),
        (error: unknown) => {
          this.logger.warn(`RabbitMQ reconnection failed: ${errorMessage(error)}`);
          this.reconnect(Math.min(delayMs * 2, MAX_RECONNECT_DELAY_MS));
        },
      );
    }, delayMs);
  }

  /** Publishes persistent, `mandatory`, `message-id` = id; resolves on the broker's confirm. */
  async publish(message: OutgoingMessage): Promise<void> {
    const publisher = this.channel('publish');
    const routingKey = (this.options.routingKey ?? ((name: string) => name))(message.name);
    await this.confirmed(publisher, this.exchange, routingKey, Buffer.from(message.payload), {
      persistent: true,
      mandatory: true,
      messageId: message.id,
      contentType: 'application/json',
      headers: { ...message.headers },
    });
    if (this.returned.delete(message.id))
      throw new Error(
        `RabbitMQ returned ${message.id}: no queue is bound to exchange ${this.exchange} for routing key ${routingKey}`,
      );
  }

  private confirmed(
    channel: ConfirmChannel,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Amqplib.Options.Publish,
  ): Promise<void> {
    const timeoutMs = this.options.publishTimeoutMs ?? 5_000;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`RabbitMQ did not confirm within ${timeoutMs} ms`)),
        timeoutMs,
      );
      try {
        channel.publish(exchange, routingKey, content, options, (error: unknown) => {
          clearTimeout(timer);
          if (error) reject(error instanceof Error ? error : new Error(String(error)));
          else resolve();
        });
      } catch (error) {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  private channel(operation: string): ConfirmChannel {
    if (this.closed || !this.connecting) throw new TransportClosedError(this.name, operation);
    if (!this.publisher)
      throw new Error(`RabbitMQ is not connected (reconnecting): cannot ${operation} now`);
    return this.publisher;
  }

  /** Consumes the inbound queue, up to `prefetch` messages in hand, across reconnections. */
  async subscribe(handler: IncomingMessageHandler): Promise<TransportSubscription> {
    const inbound = this.options.inbound;
    if (!inbound) {
      throw new InvalidTransportOptionsError('rabbitMqTransport', [
        "inbound must name the queue to take messages from, e.g. { queue: 'projection' }",
      ]);
    }
    this.channel('subscribe');
    const consumer: ConsumerState = {
      handler,
      inbound,
      stopped: false,
      chain: Promise.resolve(),
      inHand: 0,
      wakes: new Set(),
    };
    this.consumer = consumer;
    await this.consume(consumer);
    return {
      close: async () => {
        consumer.stopped = true;
        for (const wake of [...consumer.wakes]) wake();
        if (consumer.channel && consumer.tag)
          await consumer.channel.cancel(consumer.tag).catch(() => undefined);
        await consumer.chain;
        // The messages in hand are settled on this channel: close it once they are.
        if (consumer.inHand > 0) await new Promise<void>((resolve) => (consumer.drained = resolve));
        await consumer.channel?.close().catch(() => undefined);
      },
    };
  }

  private async consume(consumer: ConsumerState): Promise<void> {
    const connection = this.connection!;
    const { queue } = consumer.inbound;
    const channel = await connection.createChannel();
    channel.on('error', (error: unknown) =>
      this.logger.warn(`RabbitMQ consumer channel error: ${errorMessage(error)}`),
    );
    channel.on('close', () => {
      if (!consumer.stopped)
        this.restart(connection, `RabbitMQ consumer channel of ${queue} closed`);
    });
    await channel.prefetch(consumer.inbound.prefetch ?? DEFAULT_PREFETCH);
    consumer.channel = channel;
    const { consumerTag } = await channel.consume(queue, (msg) => {
      // Null: the broker cancelled the consumer (its queue was deleted).
      if (!msg) {
        this.restart(connection, `RabbitMQ cancelled the consumer of queue ${queue}`);
        return;
      }
      consumer.chain = consumer.chain.then(() => this.deliver(channel, msg, consumer));
    });
    consumer.tag = consumerTag;
  }

  private async deliver(channel: Channel, msg: ConsumeMessage, consumer: ConsumerState) {
    // Left unacknowledged: the broker redelivers it when the channel closes.
    if (consumer.stopped) return;
    const { queue } = consumer.inbound;
    const id =
      (msg.properties.messageId as string | undefined) || `${queue}:${msg.fields.deliveryTag}`;
    const count = (this.deliveries.get(id) ?? (msg.fields.redelivered ? 1 : 0)) + 1;
    this.deliveries.set(id, count);
    const headers = readHeaders(msg.properties.headers);
    let settled = false;
    /** Runs a settle once; the message leaves the window whatever its outcome. */
    const settle = async (action: () => Promise<void>): Promise<void> => {
      if (settled) return;
      settled = true;
      // Once its channel closed with the connection (a loss logged once), the broker redelivers
      // the message: there is nothing to settle, and no warning for each message in hand.
      const lost = () => consumer.channel !== channel;
      try {
        if (!lost()) await action();
        else this.logger.debug(`Message ${id} left to the broker: its channel closed`);
      } catch (error) {
        if (!lost()) throw error;
        this.logger.debug(`Message ${id} left to the broker: its channel closed while settling`);
      } finally {
        consumer.inHand--;
        if (consumer.inHand === 0) consumer.drained?.();
      }
    };
    const message: IncomingMessage = {
      id,
      subject: msg.fields.routingKey,
      headers,
      payload: msg.content.toString('utf8'),
      deliveryCount: count,
      ack: () =>
        settle(async () => {
          channel.ack(msg);
          this.deliveries.delete(id);
        }),
      retry: (delayMs) =>
        settle(async () => {
          if (delayMs > 0 && !consumer.stopped) {
            await new Promise<void>((resolve) => {
              const done = () => {
                clearTimeout(timer);
                consumer.wakes.delete(done);
                resolve();
              };
              const timer = setTimeout(done, delayMs);
              consumer.wakes.add(done);
            });
          }
          channel.nack(msg, false, true);
        }),
      deadLetter: (error, attempts = count) =>
        settle(async () => {
          const publisher = this.channel('dead-letter');
          await this.confirmed(publisher, '', deadLetterQueue(consumer.inbound), msg.content, {
            persistent: true,
            messageId: id,
            contentType: msg.properties.contentType as string | undefined,
            headers: {
              ...headers,
              [INTEGRATION_HEADERS.error]: oneLine(error),
              [INTEGRATION_HEADERS.deliveries]: String(attempts),
              [INTEGRATION_HEADERS.originalSubject]: msg.fields.routingKey,
              [INTEGRATION_HEADERS.deadLetteredAt]: new Date().toISOString(),
            },
          });
          channel.ack(msg);
          this.deliveries.delete(id);
        }),
    };
    consumer.inHand++;
    try {
      await consumer.handler(message);
    } catch (error) {
      this.logger.warn(`Handling ${id} failed: ${errorMessage(error)}`);
    }
  }

  /** Closes the connection; idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    await this.connecting?.catch(() => undefined);
    const connection = this.connection;
    this.connection = undefined;
    this.publisher = undefined;
    await connection?.close().catch(() => undefined);
  }
}

/** A RabbitMQ transport: see {@link RabbitMqTransport}. */
export function rabbitMqTransport(options: RabbitMqTransportOptions = {}): RabbitMqTransport {
  return new RabbitMqTransport(options);
}

function deadLetterQueue(inbound: RabbitMqInboundOptions): string {
  return inbound.deadLetterQueue ?? `${inbound.queue}.dead-letter`;
}

/** The message's headers as strings, without the broker's own (`x-*`). */
function readHeaders(h: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(h ?? {})) {
    if (key.startsWith('x-') || value === undefined || value === null) continue;
    out[key] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return out;
}

function oneLine(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return line.length > MAX_ERROR_HEADER ? `${line.slice(0, MAX_ERROR_HEADER)}…` : line;
}
