import type { TransactionalAdapter, TransactionalAdapterOptions } from '@nestjs-cls/transactional';
import type { Knex } from 'knex';

/**
 * A `@nestjs-cls/transactional` adapter for Knex, as small as the published
 * `@nestjs-cls/transactional-adapter-knex` (not available in this project's registry):
 * `@Transactional()` opens `knex.transaction(…)` and makes its `trx` the host's `tx`.
 */
export class KnexTransactionalAdapter implements TransactionalAdapter<
  Knex,
  Knex | Knex.Transaction,
  Knex.TransactionConfig
> {
  readonly connectionToken: unknown;

  constructor(options: { knexInstanceToken: unknown }) {
    this.connectionToken = options.knexInstanceToken;
  }

  optionsFactory = (
    knex: Knex,
  ): TransactionalAdapterOptions<Knex | Knex.Transaction, Knex.TransactionConfig> => ({
    wrapWithTransaction: (options, fn, setTx) =>
      knex.transaction((trx) => {
        setTx(trx);
        return fn();
      }, options),
    getFallbackInstance: () => knex,
  });
}
