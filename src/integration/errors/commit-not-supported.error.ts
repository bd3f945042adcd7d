import { IntegrationError } from './integration.error';

/**
 * `publishAndCommit` needs an adapter that can commit the caller's transaction itself (the pg
 * adapter). Prisma and Knex commit their transactions when the callback returns.
 */
export class CommitNotSupportedError extends IntegrationError {
  override readonly name = 'CommitNotSupportedError';

  constructor(
    /** Kind of the configured adapter (`prisma`, `knex`, …). */
    readonly adapter: string,
    /** The operation, e.g. `DomainEventPublisher.publishAndCommit`. */
    readonly operation: string,
  ) {
    super(
      `${operation} commits the caller's transaction, which the ${adapter} adapter cannot do: ` +
        `${adapter === 'prisma' || adapter === 'knex' ? `${adapter} commits its transaction when your callback returns` : 'it has no commitWith()'}. ` +
        'Call publish()/publishMany() inside the transaction instead (same guarantee, one more round trip), ' +
        'or use pgAdapter with a pg client you BEGIN and COMMIT yourself.',
    );
  }
}
