import { IntegrationError } from './integration.error';

/**
 * A migration of the module's tables failed. The whole run was one transaction: nothing of it
 * was applied, and the database is as it was before.
 */
export class IntegrationMigrationFailedError extends IntegrationError {
  override readonly name = 'IntegrationMigrationFailedError';

  constructor(
    /** Schema the migration targeted. */
    readonly schema: string,
    /** The migration that failed, e.g. `0001_integration_tables`. */
    readonly migration: string,
    /** PostgreSQL's SQLSTATE, when the database reported one. */
    readonly code: string | undefined,
    cause: unknown,
  ) {
    super(
      `Migration ${migration} failed in schema "${schema}": ${
        cause instanceof Error ? cause.message : String(cause)
      }. Nothing was applied (the run rolled back). ${hint(code)}`,
      { cause },
    );
  }
}

function hint(code: string | undefined): string {
  if (code === '42P07') {
    return (
      'The tables already exist but were not recorded by this runner: they were created another ' +
      'way (the `sql` output, a Knex migration or a copy of the SQL). Keep upgrading them that ' +
      'way, or target an empty schema.'
    );
  }
  if (code === '42501') {
    return 'The database user lacks a privilege: run migrations as the owner of the schema (or a role that may CREATE in it).';
  }
  return 'Fix the cause and run it again.';
}
