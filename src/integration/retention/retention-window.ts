import { RetentionWindowTooShortError } from '../errors/retention-window-too-short.error';
import type { ResolvedIntegrationOptions } from '../integration.options';
import type { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';
import { resolveRetryPolicy, type RetryPolicy } from '../utils/retry';

/** The longest retry horizon of a set of consumers, and whose it is. */
export interface RetryHorizon {
  /** Milliseconds from a delivery's first claim to the end of its last possible attempt. */
  readonly ms: number;
  /** The consumer that sets it (`undefined`: the processor's policy, no consumer is longer). */
  readonly consumer: string | undefined;
}

/**
 * How long one delivery may keep being attempted under `retry`: each of `maxAttempts`
 * attempts waits at most `maxDelayMs` before it runs and then holds its claim at most
 * `max(leaseMs, handlerTimeoutMs)` (a running handler renews its lease until it times out).
 */
export function retryHorizonMs(
  retry: RetryPolicy,
  processor: ResolvedIntegrationOptions['processor'],
): number {
  const attemptMs = retry.maxDelayMs + Math.max(processor.leaseMs, processor.handlerTimeoutMs);
  return retry.maxAttempts * attemptMs;
}

/** The longest retry horizon of the processor's policy and of every registered consumer's. */
export function longestRetryHorizon(
  options: ResolvedIntegrationOptions,
  registry: EventSubscriberRegistry,
): RetryHorizon {
  const { processor } = options;
  let longest: RetryHorizon = {
    ms: retryHorizonMs(processor.retry, processor),
    consumer: undefined,
  };
  for (const consumer of registry.getConsumers()) {
    const settings = registry.getConsumerSettings(consumer);
    const ms = retryHorizonMs(resolveRetryPolicy(settings?.retry, processor.retry), processor);
    if (ms > longest.ms) longest = { ms, consumer };
  }
  return longest;
}

/**
 * Refuses retention ages that are shorter than the retry horizon: the dedupe rows of an event
 * or message (its processed delivery, its inbox row) must outlive every redelivery of it.
 * @throws RetentionWindowTooShortError naming the option, both numbers and the fix.
 */
export function assertRetentionWindow(
  options: ResolvedIntegrationOptions,
  registry: EventSubscriberRegistry,
): void {
  const { purge } = options.processor;
  const horizon = longestRetryHorizon(options, registry);
  const windows: ReadonlyArray<readonly [string, number]> = [
    ['processor.purge.olderThanMs', purge.olderThanMs],
    ['processor.purge.inboxRetentionMs', purge.inboxRetentionMs],
  ];
  for (const [option, ms] of windows) {
    if (ms < horizon.ms) {
      throw new RetentionWindowTooShortError(option, ms, horizon.ms, horizon.consumer);
    }
  }
}
