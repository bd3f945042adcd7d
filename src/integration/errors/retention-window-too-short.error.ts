import { IntegrationError } from './integration.error';

/**
 * A retention age of `processor.purge` is shorter than the retry horizon of a consumer: a
 * redelivered event or message could find its deduplication row already purged and run twice.
 * Thrown when the processor starts, before anything is purged; the app does not start.
 */
export class RetentionWindowTooShortError extends IntegrationError {
  override readonly name = 'RetentionWindowTooShortError';

  constructor(
    /** The option that is too short, e.g. `processor.purge.inboxRetentionMs`. */
    readonly option: string,
    /** Its value (ms). */
    readonly windowMs: number,
    /** The longest retry horizon of the consumers (ms). */
    readonly horizonMs: number,
    /** The consumer whose retry policy sets the horizon (`undefined`: the processor's own). */
    readonly consumer: string | undefined,
  ) {
    const whose =
      consumer === undefined ? "the processor's retry policy" : `consumer "${consumer}"`;
    super(
      `${option} is ${windowMs} ms, shorter than the retry horizon of ${whose} (${horizonMs} ms = ` +
        'retry.maxAttempts × (retry.maxDelayMs + max(processor.leaseMs, processor.handlerTimeoutMs))). ' +
        'A redelivery inside that horizon could find its deduplication row purged and run twice. ' +
        `Set ${option} to at least ${horizonMs}, or lower that retry policy's maxAttempts or maxDelayMs.`,
    );
  }
}
