/** Base class of every error this module throws. `instanceof IntegrationError` catches them all. */
export class IntegrationError extends Error {
  override readonly name: string = 'IntegrationError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
