import { IntegrationError } from './integration.error';

/** A serialised payload is larger than `outbox.maxPayloadBytes`; nothing was written. */
export class PayloadTooLargeError extends IntegrationError {
  override readonly name = 'PayloadTooLargeError';

  constructor(
    readonly sizeBytes: number,
    readonly limitBytes: number,
    readonly index?: number,
  ) {
    super(
      `Event payload${index === undefined ? '' : ` at index ${index}`} is ${sizeBytes} bytes of JSON, ` +
        `over the ${limitBytes}-byte limit. Store large data elsewhere and publish a reference, ` +
        'or raise outbox.maxPayloadBytes.',
    );
  }
}
