import { IntegrationError } from './integration.error';

/**
 * An admin action on one delivery found it in a status the action does not apply to, e.g. a
 * replay of a delivery that is not a dead letter, or a discard of one being processed. Nothing
 * changed and no audit row was written.
 */
export class InvalidDeliveryStateError extends IntegrationError {
  override readonly name = 'InvalidDeliveryStateError';

  constructor(
    readonly eventId: string,
    readonly consumer: string,
    /** `replay` or `discard`. */
    readonly action: string,
    /** The delivery's status now. */
    readonly status: string,
    /** The statuses the action applies to. */
    readonly allowed: readonly string[],
  ) {
    super(
      `Cannot ${action} the delivery of event ${eventId} to "${consumer}": it is ${status}, and ${action} ` +
        `applies to ${allowed.join(' or ')} deliveries only` +
        (status === 'processing'
          ? ' (an instance holds it now: try again once its attempt ended).'
          : '.'),
    );
  }
}
