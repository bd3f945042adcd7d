import { IntegrationError } from './integration.error';

/** A handler definition is invalid (bad consumer name, conflicting consumer settings, not a function…). */
export class InvalidHandlerError extends IntegrationError {
  override readonly name = 'InvalidHandlerError';

  constructor(
    readonly handler: string,
    readonly reason: string,
  ) {
    super(`Invalid integration event handler ${handler}: ${reason}`);
  }
}
