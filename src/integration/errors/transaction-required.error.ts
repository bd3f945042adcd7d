import { IntegrationError } from './integration.error';

/** `publish` was called without a transaction handle of the configured ORM. */
export class TransactionRequiredError extends IntegrationError {
  override readonly name = 'TransactionRequiredError';

  constructor(readonly adapter: string) {
    super(
      `DomainEventPublisher.publish needs the caller's transaction (${adapter}): pass the ` +
        'transaction handle of your business write, e.g. prisma.$transaction(async (tx) => ' +
        'publisher.publish(tx, event)) or knex.transaction((trx) => publisher.publish(trx, event)). ' +
        'For an event with no business write, use publishStandalone(event).',
    );
  }
}
