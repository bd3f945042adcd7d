import { IntegrationError } from './integration.error';

/** An operation that must run in the caller's transaction got something that is not one. */
export class TransactionRequiredError extends IntegrationError {
  override readonly name = 'TransactionRequiredError';

  constructor(
    /** Kind of the configured adapter (`prisma`, `knex`, `pg`). */
    readonly adapter: string,
    /** The operation, e.g. `DomainEventPublisher.publish`. */
    readonly operation = 'This operation',
    hint = '',
  ) {
    super(
      `${operation} needs a transaction of the configured ORM (${adapter}): pass the transaction handle ` +
        'of your business write, e.g. prisma.$transaction(async (tx) => …(tx, …)), ' +
        'knex.transaction((trx) => …(trx, …)), or a pg client after BEGIN.' +
        (hint ? ` ${hint}` : ''),
    );
  }
}
