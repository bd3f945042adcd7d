import { isValidEventPattern } from '../../subscribers/event-pattern';
import { CONSUMER_NAME_PATTERN } from '../../subscribers/event-subscriber.registry';
import { MAX_CONSUMER_CONCURRENCY, type ConsumerStart } from '../../subscribers/handler.types';
import { validateRetryPolicy, type RetryPolicy } from '../../utils/retry';
import type { IntegrationTransport } from '../integration-transport';

/** Options of `IntegrationRelayModule.forRoot`: one relay of outbox events to one transport. */
export interface IntegrationRelayOptions {
  /**
   * The relay's consumer name: its deliveries, attempts, dead letters, replays and metrics are
   * this consumer's, as for any consumer. Keep it stable (renaming starts a new consumer).
   */
  readonly consumer: string;
  /**
   * Event patterns to relay (`*` one segment, `**` any number), e.g. `['vault.*']`.
   * @default ['**'] (every event)
   */
  readonly events?: readonly string[];
  /** Where the events go (`natsTransport(...)`, your own {@link IntegrationTransport}). */
  readonly transport: IntegrationTransport;
  /**
   * Backoff and attempts when a publish fails (broker down, not acknowledged): merged over
   * `processor.retry`; after the last attempt the delivery is the relay's dead letter, replayable
   * with `IntegrationAdminService`.
   * @default the processor's policy
   */
  readonly retry?: Partial<RetryPolicy>;
  /**
   * Where the relay starts the first time the cluster sees it: `'now'`, or `'retained'` to also
   * relay the events still in the outbox.
   * @default 'now'
   */
  readonly startFrom?: ConsumerStart;
  /**
   * Publishes in flight at once, each of a different ordering key (a key's events are still
   * published one after another, each after the previous one's acknowledgement). The relay spends
   * most of its time waiting for acknowledgements; overlapping them keeps up with a steady
   * stream of small transactions. Between 1 and 1,000.
   * @default 16
   */
  readonly concurrency?: number;
}

/** Publishes a relay has in flight at once unless `concurrency` says otherwise. */
export const DEFAULT_RELAY_CONCURRENCY = 16;

/** Problems with relay options (empty when valid), each naming the field and the fix. */
export function relayOptionProblems(options: IntegrationRelayOptions): string[] {
  if (typeof options !== 'object' || options === null) {
    return [
      `options must be an object such as { consumer: 'nats-relay', transport: natsTransport({ ... }) } (got ${String(options)})`,
    ];
  }
  const problems: string[] = [];
  if (typeof options.consumer !== 'string' || !CONSUMER_NAME_PATTERN.test(options.consumer)) {
    problems.push(
      `consumer must be a name matching ${CONSUMER_NAME_PATTERN}, e.g. 'nats-relay' (got ${JSON.stringify(options.consumer)})`,
    );
  }
  if (options.events !== undefined) {
    if (!Array.isArray(options.events) || options.events.length === 0) {
      problems.push(`events must be a non-empty array of event patterns such as ['vault.*']`);
    } else {
      for (const pattern of options.events) {
        if (!isValidEventPattern(pattern))
          problems.push(
            `events: ${JSON.stringify(pattern)} is not an event pattern (dot-separated lowercase segments, * or **)`,
          );
      }
    }
  }
  problems.push(...transportProblems(options.transport, false));
  if (options.retry !== undefined) problems.push(...validateRetryPolicy(options.retry, 'retry'));
  if (options.startFrom !== undefined && !['now', 'retained'].includes(options.startFrom))
    problems.push(`startFrom must be 'now' or 'retained' (got ${String(options.startFrom)})`);
  const { concurrency } = options;
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= MAX_CONSUMER_CONCURRENCY)
  )
    problems.push(
      `concurrency must be an integer from 1 to ${MAX_CONSUMER_CONCURRENCY} (got ${String(concurrency)})`,
    );
  return problems;
}

/** Problems with a transport object (empty when it has the methods the caller needs). */
export function transportProblems(transport: unknown, inbound: boolean): string[] {
  const t = transport as Partial<IntegrationTransport> | undefined | null;
  const needed = inbound
    ? (['connect', 'subscribe', 'close'] as const)
    : (['connect', 'publish', 'close'] as const);
  if (typeof t !== 'object' || t === null)
    return [
      `transport must be an IntegrationTransport such as natsTransport({ ... }) (got ${String(t)})`,
    ];
  const missing = needed.filter((m) => typeof t[m] !== 'function');
  return missing.length
    ? [
        `transport ${String(t.name ?? '')} lacks ${missing.join(', ')}(): ${inbound ? 'inbound needs a transport that can subscribe' : 'a relay needs a transport that can publish'}`,
      ]
    : [];
}
