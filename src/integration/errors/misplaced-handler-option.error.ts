import { IntegrationError } from './integration.error';

/**
 * An `@OnIntegrationEvent` inside an `@IntegrationConsumer` class sets a consumer-level option
 * (`consumer`, `transactional`, `retry`, `concurrency`); bootstrap fails.
 */
export class MisplacedHandlerOptionError extends IntegrationError {
  override readonly name = 'MisplacedHandlerOptionError';

  constructor(
    readonly handler: string,
    readonly consumer: string,
    readonly options: readonly string[],
  ) {
    super(
      `${handler} is in @IntegrationConsumer('${consumer}') but its @OnIntegrationEvent sets ` +
        `${options.join(', ')}. Inside a consumer class a method takes only { priority }: move ` +
        `transactional, retry and concurrency to @IntegrationConsumer('${consumer}', { ... }), and ` +
        'put a handler of another consumer in a class of its own.',
    );
  }
}
