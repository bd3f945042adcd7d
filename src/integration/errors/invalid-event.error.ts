import { IntegrationError } from './integration.error';

/** An event given to the publisher is invalid; nothing was written. */
export class InvalidEventError extends IntegrationError {
  override readonly name = 'InvalidEventError';

  constructor(
    /** The offending field, e.g. `name` or `payload.items[2].price`. */
    readonly field: string,
    /** Why it is invalid and how to fix it. */
    readonly reason: string,
    /** Position in a `publishMany` batch. */
    readonly index?: number,
  ) {
    super(`Invalid event${index === undefined ? '' : ` at index ${index}`}: ${field} ${reason}`);
  }
}
