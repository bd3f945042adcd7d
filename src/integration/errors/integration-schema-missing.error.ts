import { IntegrationError } from './integration.error';

/**
 * The database lacks tables (or columns) of this module; `IntegrationModule` checks at
 * bootstrap (option `verifySchema`) and the app does not start.
 */
export class IntegrationSchemaMissingError extends IntegrationError {
  override readonly name = 'IntegrationSchemaMissingError';

  constructor(
    /** Tables not found through the connection's `search_path`, e.g. `['outbox_event']`. */
    readonly missingTables: readonly string[],
    /** Columns missing from tables that exist, as `table.column`. */
    readonly missingColumns: readonly string[] = [],
  ) {
    const parts = [
      missingTables.length ? `missing table(s) ${missingTables.join(', ')}` : undefined,
      missingColumns.length ? `missing column(s) ${missingColumns.join(', ')}` : undefined,
    ].filter((part): part is string => part !== undefined);
    super(
      `The database of IntegrationModule is not migrated: ${parts.join('; ')} ` +
        `(looked up through the connection's search_path). Create the tables with the ` +
        `module's migration before starting the app: in the nestjs-integration repository ` +
        `\`npm run migrate:latest\` applies db/migrations/20261122000001_integration_tables.ts; ` +
        `in your own app, add that migration's SQL to your migrations. If the tables are ` +
        `created after the app starts, pass \`verifySchema: false\` to IntegrationModule.forRoot.`,
    );
  }
}
