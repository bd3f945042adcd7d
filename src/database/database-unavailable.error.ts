/** Raised when PostgreSQL cannot be reached at start-up after the bounded retries. */
export class DatabaseUnavailableError extends Error {
  override readonly name = 'DatabaseUnavailableError';

  constructor(
    /** The URL that was tried, password masked. */
    readonly maskedUrl: string,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(
      `Could not connect to PostgreSQL at ${maskedUrl} after ${attempts} attempt(s): ` +
        `${cause instanceof Error ? cause.message : String(cause)}. ` +
        'Check that the server is running and that DATABASE_URL is right, or unset DATABASE_URL ' +
        'to use the embedded PostgreSQL server.',
    );
  }
}
