/** The inbound side: a durable queue bound to the exchange. */
export interface RabbitMqInboundOptions {
  /** The queue (durable, classic) the messages are consumed from. */
  readonly queue: string;
  /**
   * Routing-key patterns binding the queue to the exchange (`*` one word, `#` any number).
   * @default ['#'] (every event)
   */
  readonly bindings?: readonly string[];
  /**
   * Messages delivered and not yet acknowledged at once on this instance's channel (RabbitMQ's
   * flow control). Keep it at least the inbound module's `concurrency`. One consumer keeps
   * per-key order at any value (its lanes and retries in place; a lost connection requeues
   * unacknowledged messages at their places); several consumers on one queue do not keep it.
   * @default 64
   */
  readonly prefetch?: number;
  /** The durable queue dead letters go to. @default `${queue}.dead-letter` */
  readonly deadLetterQueue?: string;
}

/** Options of {@link rabbitMqTransport}. */
export interface RabbitMqTransportOptions {
  /** Server URL. @default 'amqp://guest:guest@127.0.0.1:5672' */
  readonly url?: string;
  /** The topic exchange events are published to, declared (durable) at connect. @default 'integration.events' */
  readonly exchange?: string;
  /** Routing key of an event, from its name. @default the event name */
  readonly routingKey?: (eventName: string) => string;
  /** How long a publish waits for the broker's confirm. @default 5000 */
  readonly publishTimeoutMs?: number;
  /** Pause before reconnecting after the connection was lost (doubling up to 5 s). @default 100 */
  readonly reconnectDelayMs?: number;
  /** Inbound side: needed by `IntegrationInboundModule`. */
  readonly inbound?: RabbitMqInboundOptions;
}

const NAME = /^[A-Za-z0-9_.:-]{1,200}$/;

/** Problems with RabbitMQ transport options (empty when valid), each naming the field and the fix. */
export function rabbitMqOptionProblems(options: RabbitMqTransportOptions): string[] {
  if (typeof options !== 'object' || options === null)
    return [
      `options must be an object such as { url: 'amqp://guest:guest@127.0.0.1:5672' } (got ${String(options)})`,
    ];
  const problems: string[] = [];
  const positive = (value: unknown, path: string) => {
    if (value !== undefined && !(typeof value === 'number' && Number.isInteger(value) && value > 0))
      problems.push(`${path} must be a positive integer (got ${String(value)})`);
  };
  if (
    options.exchange !== undefined &&
    (typeof options.exchange !== 'string' || !NAME.test(options.exchange))
  )
    problems.push(
      `exchange must be a name of letters, digits, . _ : or - (got ${JSON.stringify(options.exchange)})`,
    );
  if (options.routingKey !== undefined && typeof options.routingKey !== 'function')
    problems.push('routingKey must be a function from event name to routing key');
  positive(options.publishTimeoutMs, 'publishTimeoutMs');
  positive(options.reconnectDelayMs, 'reconnectDelayMs');
  const inbound = options.inbound;
  if (inbound !== undefined) {
    if (typeof inbound.queue !== 'string' || !NAME.test(inbound.queue))
      problems.push(`inbound.queue must name a queue (got ${JSON.stringify(inbound.queue)})`);
    if (
      inbound.bindings !== undefined &&
      (!Array.isArray(inbound.bindings) || inbound.bindings.length === 0)
    )
      problems.push(`inbound.bindings must list routing-key patterns such as ['vault.*']`);
    positive(inbound.prefetch, 'inbound.prefetch');
    if (
      inbound.deadLetterQueue !== undefined &&
      (typeof inbound.deadLetterQueue !== 'string' || !NAME.test(inbound.deadLetterQueue))
    )
      problems.push(
        `inbound.deadLetterQueue must name a queue (got ${JSON.stringify(inbound.deadLetterQueue)})`,
      );
  }
  return problems;
}
