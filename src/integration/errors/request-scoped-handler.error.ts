import { IntegrationError } from './integration.error';

/** `@OnIntegrationEvent` is used on a request-scoped (or transient-dependent) provider; bootstrap fails. */
export class RequestScopedHandlerError extends IntegrationError {
  override readonly name = 'RequestScopedHandlerError';

  constructor(readonly provider: string) {
    super(
      `${provider} has @OnIntegrationEvent handlers but is not a singleton (it is request-scoped or depends ` +
        'on a request-scoped provider). Events are delivered outside any HTTP request: move the handlers to a ' +
        'singleton provider and get request-specific data from the event instead.',
    );
  }
}
