import { IntegrationError } from './integration.error';

/**
 * The options of a relay, an inbound module or a transport are invalid; the app does not start.
 */
export class InvalidTransportOptionsError extends IntegrationError {
  override readonly name = 'InvalidTransportOptionsError';

  constructor(
    /** What was configured, e.g. `IntegrationRelayModule` or `natsTransport`. */
    readonly component: string,
    /** One message per invalid field, each naming the field and the fix. */
    readonly problems: readonly string[],
  ) {
    super(`Invalid ${component} options:\n  - ${problems.join('\n  - ')}`);
  }
}
