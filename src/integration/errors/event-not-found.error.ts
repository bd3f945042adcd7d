import { IntegrationError } from './integration.error';

/** No outbox event has this id. */
export class EventNotFoundError extends IntegrationError {
  override readonly name = 'EventNotFoundError';

  constructor(readonly eventId: string) {
    super(`No outbox event with id ${eventId}`);
  }
}
