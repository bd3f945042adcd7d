import { IntegrationError } from './integration.error';

/** The same handler is registered twice for one consumer; bootstrap fails. */
export class DuplicateHandlerError extends IntegrationError {
  override readonly name = 'DuplicateHandlerError';

  constructor(
    readonly consumer: string,
    readonly handler: string,
  ) {
    super(
      `Handler ${handler} is registered twice for consumer "${consumer}". A (consumer, handler) pair ` +
        'must be unique: remove the duplicate @OnIntegrationEvent (one method may list several patterns ' +
        'only under different consumers), or make sure the provider class is registered in one module only.',
    );
  }
}
