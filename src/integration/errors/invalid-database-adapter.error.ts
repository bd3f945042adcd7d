import { IntegrationError } from './integration.error';

/**
 * `prismaAdapter`, `knexAdapter` or `pgAdapter` was given something that is not the client it
 * adapts (e.g. `knexAdapter(prisma)`). Thrown when the adapter is created, so at bootstrap
 * rather than at the first query.
 */
export class InvalidDatabaseAdapterError extends IntegrationError {
  override readonly name = 'InvalidDatabaseAdapterError';

  constructor(
    /** The adapter factory that was called: `'prismaAdapter'`, `'knexAdapter'` or `'pgAdapter'`. */
    readonly adapter: string,
    /** What it was given, as far as it can tell (e.g. `a Knex instance`, `undefined`). */
    readonly received: string,
    /** How to fix it, e.g. `use knexAdapter(knex) for a Knex instance`. */
    readonly fix: string,
  ) {
    super(`${adapter}() was given ${received}: ${fix}.`);
  }
}
