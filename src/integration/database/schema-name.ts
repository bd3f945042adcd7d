import { InvalidSchemaNameError } from '../errors/invalid-schema-name.error';

/** Schema of the module's tables when none is configured. */
export const DEFAULT_INTEGRATION_SCHEMA = 'public';

/**
 * What a schema name for the module's tables may be: a plain lowercase PostgreSQL identifier
 * (1 to 63 characters). Quoting it can then never change its meaning.
 */
export const SCHEMA_NAME_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * Validates a schema name for the module's tables; `undefined` gives
 * {@link DEFAULT_INTEGRATION_SCHEMA}. Throws {@link InvalidSchemaNameError} for anything that
 * is not a plain lowercase identifier, and for the names PostgreSQL reserves (`pg_*`,
 * `information_schema`).
 */
export function validateSchemaName(schema: unknown = DEFAULT_INTEGRATION_SCHEMA): string {
  if (typeof schema !== 'string') throw new InvalidSchemaNameError(schema, 'it is not a string');
  if (!SCHEMA_NAME_PATTERN.test(schema)) {
    throw new InvalidSchemaNameError(
      schema,
      schema.length > 63
        ? 'it is longer than 63 characters'
        : 'it is not a plain lowercase identifier',
    );
  }
  if (schema.startsWith('pg_') || schema === 'information_schema') {
    throw new InvalidSchemaNameError(schema, 'PostgreSQL reserves it for system schemas');
  }
  return schema;
}

/** The validated schema name as a quoted SQL identifier, e.g. `"integration"`. */
export function quoteSchemaName(schema: unknown = DEFAULT_INTEGRATION_SCHEMA): string {
  return `"${validateSchemaName(schema)}"`;
}
