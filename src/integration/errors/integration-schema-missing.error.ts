import { IntegrationError } from './integration.error';

/**
 * The database lacks tables (or columns) of this module; `IntegrationModule` checks at
 * bootstrap (option `verifySchema`) and the app does not start.
 */
export class IntegrationSchemaMissingError extends IntegrationError {
  override readonly name = 'IntegrationSchemaMissingError';

  constructor(
    /** Tables not found in {@link schema}, unqualified, e.g. `['outbox_event']`. */
    readonly missingTables: readonly string[],
    /** Columns missing from tables that exist, as `table.column`. */
    readonly missingColumns: readonly string[] = [],
    /** The schema looked in: the module's `schema` option. */
    readonly schema: string = 'public',
  ) {
    const parts = [
      missingTables.length ? `missing table(s) ${missingTables.join(', ')}` : undefined,
      missingColumns.length ? `missing column(s) ${missingColumns.join(', ')}` : undefined,
    ].filter((part): part is string => part !== undefined);
    super(
      `The database of IntegrationModule is not migrated: ${parts.join('; ')} ` +
        `(looked up in schema "${schema}", the \`schema\` option of IntegrationModule.forRoot, ` +
        `default public: if the tables live in another schema, set \`schema\` to it). Create ` +
        `them before starting the app: \`npx nestjs-integration migrate --database-url <url>` +
        `${schema === 'public' ? '' : ` --schema ${schema}`}\` (or print the SQL with ` +
        `\`npx nestjs-integration sql\`, or run integrationMigrationSource() with Knex). If the ` +
        `tables are created after the app starts, pass \`verifySchema: false\` to ` +
        `IntegrationModule.forRoot.`,
    );
  }
}
