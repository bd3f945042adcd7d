import { IntegrationError } from './integration.error';

/**
 * An argument of a query or admin method (a finder's options, a `replayDeadLetters` filter) is
 * invalid, e.g. an unknown filter key or a `limit` out of range; no SQL ran.
 */
export class InvalidQueryError extends IntegrationError {
  override readonly name = 'InvalidQueryError';

  constructor(
    /** The method, e.g. `replayDeadLetters`. */
    readonly method: string,
    /** The offending argument, e.g. `filter.limit` or `filter.name`. */
    readonly field: string,
    /** Why it is invalid and how to fix it. */
    readonly reason: string,
  ) {
    super(`Invalid argument to ${method}: ${field} ${reason}`);
  }
}
