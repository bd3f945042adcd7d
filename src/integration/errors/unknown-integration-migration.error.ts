import { IntegrationError } from './integration.error';

/** A migration id that this version of the package does not ship. */
export class UnknownIntegrationMigrationError extends IntegrationError {
  override readonly name = 'UnknownIntegrationMigrationError';

  constructor(
    /** The id asked for. */
    readonly migration: string,
    /** The ids this version ships, in order. */
    readonly known: readonly string[],
  ) {
    super(
      `Unknown nestjs-integration migration "${migration}": this version ships ${known.join(', ')}. ` +
        'Use one of those ids (the file names of its SQL migrations without ".sql").',
    );
  }
}
