import { IntegrationError } from './integration.error';

/** A handler ran longer than `processor.handlerTimeoutMs`; its consumer's transaction is rolled back. */
export class HandlerTimeoutError extends IntegrationError {
  override readonly name = 'HandlerTimeoutError';

  constructor(
    readonly handler: string,
    readonly timeoutMs: number,
  ) {
    super(`Handler ${handler} did not finish within ${timeoutMs} ms (processor.handlerTimeoutMs)`);
  }
}
