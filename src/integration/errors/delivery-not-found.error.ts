import { IntegrationError } from './integration.error';

/** An admin action named a consumer that has no delivery of this event. */
export class DeliveryNotFoundError extends IntegrationError {
  override readonly name = 'DeliveryNotFoundError';

  constructor(
    readonly eventId: string,
    readonly consumer: string,
    /** The consumers that have a delivery of this event. */
    readonly consumers: readonly string[],
    /** The one of `consumers` most likely meant; undefined when there is none. */
    readonly closest: string | undefined,
  ) {
    super(
      `Event ${eventId} has no delivery for consumer "${consumer}"` +
        (consumers.length === 0
          ? ': it has no delivery yet (the sequencer has not fanned it out, or no consumer matches its name).'
          : `${closest === undefined ? '' : `. Did you mean "${closest}"?`} Its consumers: ${consumers.join(', ')}.`),
    );
  }
}
