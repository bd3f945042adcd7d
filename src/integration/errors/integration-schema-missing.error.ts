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
        `the tables in that schema with the module's migration before starting the app: in the nestjs-integration repository ` +
        `\`npm run migrate:latest\` applies db/migrations/20261122000001_integration_tables.ts; ` +
        `in your own app, add that migration's SQL to your migrations. If the tables are ` +
        `created after the app starts, pass \`verifySchema: false\` to IntegrationModule.forRoot.`,
    );
  }
}
