import { IntegrationError } from './integration.error';

/**
 * The bootstrap schema check (option `verifySchema`) could not query the database, e.g.
 * because it is unreachable; the app does not start. The driver's error is the `cause`.
 */
export class IntegrationSchemaCheckFailedError extends IntegrationError {
  override readonly name = 'IntegrationSchemaCheckFailedError';

  constructor(
    /** The database error in one line: SQLSTATE or driver code, then its message. */
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(
      `IntegrationModule could not check its tables at bootstrap: ${reason}. Check that the ` +
        `database is reachable with the configured client, or pass \`verifySchema: false\` to ` +
        `IntegrationModule.forRoot to skip the check.`,
      options,
    );
  }
}
