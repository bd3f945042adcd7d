import { IntegrationError } from './integration.error';

/** `assertHandlerIdempotent` saw a number of state changes other than exactly one. */
export class HandlerNotIdempotentError extends IntegrationError {
  override readonly name = 'HandlerNotIdempotentError';

  constructor(
    readonly consumer: string,
    readonly deliveries: number,
    readonly mutations: number,
    readonly snapshots: readonly unknown[],
  ) {
    super(
      `Consumer "${consumer}" is not idempotent: ${deliveries} deliveries of one event caused ${mutations} ` +
        `observable state change(s); exactly 1 was expected. Snapshots: ${JSON.stringify(
          snapshots,
          (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v),
        )}. ${
          mutations === 0
            ? 'The handler changed nothing that observe() sees: check observe() and that the handler writes through ctx.tx.'
            : 'Write effects through ctx.tx (so they commit with the processed mark of the delivery), not through another connection.'
        }`,
    );
  }
}
