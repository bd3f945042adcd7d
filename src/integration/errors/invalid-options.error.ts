import { IntegrationError } from './integration.error';

/** `IntegrationModule.forRoot` options are invalid; the app does not start. */
export class InvalidIntegrationOptionsError extends IntegrationError {
  override readonly name = 'InvalidIntegrationOptionsError';

  constructor(
    /** One message per invalid field, each naming the field and the fix. */
    readonly problems: readonly string[],
  ) {
    super(`Invalid IntegrationModule options:\n  - ${problems.join('\n  - ')}`);
  }
}
