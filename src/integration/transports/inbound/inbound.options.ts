import { CONSUMER_NAME_PATTERN } from '../../subscribers/event-subscriber.registry';
import { validateRetryPolicy, type RetryPolicy } from '../../utils/retry';
import type { IntegrationTransport } from '../integration-transport';
import { transportProblems } from '../relay/relay.options';

/** Options of `IntegrationInboundModule.forRoot`: broker messages into local consumers. */
export interface IntegrationInboundOptions {
  /** Where messages come from: a transport that can `subscribe` (e.g. `natsTransport`). */
  readonly transport: IntegrationTransport;
  /**
   * The consumers (`@IntegrationConsumer` names, or registered with `EventSubscriberRegistry`)
   * whose `@OnIntegrationEvent` handlers receive the messages, each with its own inbox row per
   * message id. Named explicitly so that a relay in the same app never receives its own input.
   */
  readonly consumers: readonly string[];
  /**
   * Deliveries and backoff of a failing message: after a failure the message goes back to the
   * broker for a redelivery in `computeBackoffDelay(retry, deliveries)` ms; after `maxAttempts`
   * deliveries it is moved to the transport's dead-letter destination.
   * @default { maxAttempts: 5, baseDelayMs: 1000, maxDelayMs: 60000, jitter: 'full' }
   */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * How many messages are handled at once, each in its own transaction. Messages of one
   * ordering key (the `integration-ordering-key` header) still run one after another in the
   * order they arrived; only messages of different keys run side by side. The broker's window
   * (`maxAckPending` on NATS, `prefetch` on RabbitMQ) bounds how many are in hand: keep it at
   * least this large. 1 handles one message at a time.
   * @default 16
   */
  readonly concurrency?: number;
}

/** Messages handled at once unless `concurrency` says otherwise. */
export const DEFAULT_INBOUND_CONCURRENCY = 16;

/** Problems with inbound options (empty when valid), each naming the field and the fix. */
export function inboundOptionProblems(options: IntegrationInboundOptions): string[] {
  if (typeof options !== 'object' || options === null) {
    return [
      `options must be an object such as { transport: natsTransport({ ... }), consumers: ['projection'] } (got ${String(options)})`,
    ];
  }
  const problems = transportProblems(options.transport, true);
  if (!Array.isArray(options.consumers) || options.consumers.length === 0) {
    problems.push(
      `consumers must name at least one consumer whose handlers take the messages, e.g. ['projection']`,
    );
  } else {
    for (const consumer of options.consumers) {
      if (typeof consumer !== 'string' || !CONSUMER_NAME_PATTERN.test(consumer))
        problems.push(`consumers: ${JSON.stringify(consumer)} is not a consumer name`);
    }
  }
  if (options.retry !== undefined) problems.push(...validateRetryPolicy(options.retry, 'retry'));
  const concurrency = options.concurrency;
  if (
    concurrency !== undefined &&
    !(typeof concurrency === 'number' && Number.isInteger(concurrency) && concurrency > 0)
  )
    problems.push(
      `concurrency must be a positive integer, the messages handled at once, e.g. 16 (got ${String(concurrency)})`,
    );
  return problems;
}
