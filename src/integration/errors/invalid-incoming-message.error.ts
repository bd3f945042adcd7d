import { IntegrationError } from './integration.error';

/**
 * A broker message cannot be read as an integration event (no event-name header, a payload that
 * is not JSON): the inbound module dead-letters it at once, since a redelivery would not help.
 */
export class InvalidIncomingMessageError extends IntegrationError {
  override readonly name = 'InvalidIncomingMessageError';

  constructor(
    readonly messageId: string,
    readonly subject: string,
    readonly reason: string,
  ) {
    super(
      `Message ${messageId} on ${subject} is not an integration event: ${reason}. Publish it ` +
        'through an IntegrationRelayModule (or set the integration-* headers and a JSON payload ' +
        'yourself; see docs/relays.md), then replay it from the dead-letter destination.',
    );
  }
}
