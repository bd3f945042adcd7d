import { IntegrationError } from './integration.error';

/** An inbox key (event id or consumer name) is invalid; nothing was written. */
export class InvalidInboxKeyError extends IntegrationError {
  override readonly name = 'InvalidInboxKeyError';

  constructor(
    readonly field: 'eventId' | 'consumer' | 'payloadHash' | 'tenantId',
    readonly reason: string,
  ) {
    super(`Invalid inbox key: ${field} ${reason}`);
  }
}
