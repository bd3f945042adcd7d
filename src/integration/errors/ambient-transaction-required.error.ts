import { IntegrationError } from './integration.error';

/**
 * `publish(event)` / `publishMany(events)` (the form without a transaction argument) was called
 * where there is no ambient transaction to join: outside any `@Transactional()` method, or
 * without `context.transactional` configured.
 */
export class AmbientTransactionRequiredError extends IntegrationError {
  override readonly name = 'AmbientTransactionRequiredError';

  constructor(
    /** The operation, e.g. `DomainEventPublisher.publish`. */
    readonly operation: string,
    /** Why there is none: not configured, or no transaction active. */
    readonly reason: 'not-configured' | 'no-transaction',
  ) {
    super(
      reason === 'not-configured'
        ? `${operation}(event) without a transaction needs ambient transactions: set context: { transactional: true } in IntegrationModule options and register ClsModule with ClsPluginTransactional (@nestjs-cls/transactional); or pass the transaction: ${operation}(tx, event).`
        : `${operation}(event) was called outside any transaction: call it from a method decorated with @Transactional() (or inside transactionHost.withTransaction(…)), or pass the transaction explicitly: ${operation}(tx, event). For an event with no business write, use publishStandalone(event).`,
    );
  }
}
