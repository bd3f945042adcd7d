import { IntegrationError } from './integration.error';

/**
 * An outbox event id given to a query or admin method (`findEvent`, `replay`) is not a UUID;
 * no SQL ran.
 */
export class InvalidEventIdError extends IntegrationError {
  override readonly name = 'InvalidEventIdError';

  constructor(
    /** What was given, as text (strings quoted, long strings shortened). */
    readonly received: string,
    /** The argument, e.g. `eventId`. */
    readonly field = 'eventId',
  ) {
    super(
      `Invalid ${field}: expected an outbox event id, a UUID such as ` +
        `'0190f6d4-7e1a-7c3b-9f10-2a4b6c8d0e1f' (the id publish() returned), got ${received}`,
    );
  }
}
