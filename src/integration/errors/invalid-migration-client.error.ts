import { IntegrationError } from './integration.error';

/**
 * The migration runner was given something that cannot hold its one transaction, such as a pg
 * `Pool`: each query of a pool may run on another connection, so BEGIN, the advisory lock and
 * the migration would not share a transaction.
 */
export class InvalidMigrationClientError extends IntegrationError {
  override readonly name = 'InvalidMigrationClientError';

  constructor(
    /** What was passed, described (e.g. `a pg Pool`). */
    readonly received: string,
  ) {
    super(
      `migrateIntegrationTables needs one connection, not ${received}: ` +
        'pass a pg Client, or a client checked out with `const client = await pool.connect()` ' +
        '(and `client.release()` afterwards).',
    );
  }
}
