import { IntegrationError } from './integration.error';

/** A schema name for the module's tables is not a plain lowercase PostgreSQL identifier. */
export class InvalidSchemaNameError extends IntegrationError {
  override readonly name = 'InvalidSchemaNameError';

  constructor(
    /** The value that was refused (as given). */
    readonly schema: unknown,
    /** Why it was refused. */
    readonly reason: string,
  ) {
    super(
      `Invalid schema name ${describe(schema)}: ${reason}. Use a plain lowercase identifier ` +
        `(a-z, 0-9 and _, starting with a letter or _, at most 63 characters, not pg_*), ` +
        `e.g. "integration", or leave it unset for "public".`,
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  return value === null ? 'null' : typeof value;
}
