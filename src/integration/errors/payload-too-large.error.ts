import { IntegrationError } from './integration.error';

/**
 * A payload takes more than `outbox.maxPayloadBytes` bytes as PostgreSQL stores and returns it
 * (its `jsonb` text); nothing was written.
 */
export class PayloadTooLargeError extends IntegrationError {
  override readonly name = 'PayloadTooLargeError';

  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    readonly index?: number,
  ) {
    super(
      `Event payload${index === undefined ? '' : ` at index ${index}`} is ${sizeBytes} bytes as PostgreSQL stores it (jsonb text), ` +
        `over the ${limitBytes}-byte limit. Store large data elsewhere and publish a reference, ` +
        'or raise outbox.maxPayloadBytes.',
    );
  }
}
