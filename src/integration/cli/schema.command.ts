import type { CliCommand, CliContext } from './cli-command';
import { expectArguments } from './cli-command';
import { allowOnly } from './cli-options';
import { jsonDocument } from './cli-output';
import { CliUsageError } from './cli-usage.error';
import { integrationTablesSql } from '../database/integration-migrations';
import { integrationMigrationStatus, migrateIntegrationTables } from '../database/migration-runner';
import { integrationPrismaModels } from '../database/prisma-fragment';
import {
  disableRowLevelSecurity,
  enableRowLevelSecurity,
  rowLevelSecuritySql,
} from '../database/row-level-security';

/** The schema commands: `migrate`, `status`, `sql`, `prisma` and `row-level-security`. */
export const SCHEMA_COMMANDS = [
  'migrate',
  'status',
  'sql',
  'prisma',
  'row-level-security',
] as const;

/** Checks a schema command line (`migrate|status|sql|prisma`) before connecting. */
export function schemaCommand(
  command: (typeof SCHEMA_COMMANDS)[number],
  args: readonly string[],
  context: CliContext,
): CliCommand {
  const { values, schema, json } = context;
  const rls = values['row-level-security'] === true;
  allowOnly(command, values, command === 'sql' ? ['row-level-security'] : []);
  if (command === 'row-level-security') return rowLevelSecurityCommand(args, context);
  expectArguments(command, args, 0, 'no argument');
  switch (command) {
    case 'sql': {
      if (values['database-url'] !== undefined) {
        throw new CliUsageError('sql needs no database: remove --database-url');
      }
      const sql = rls
        ? `${integrationTablesSql({ schema })}\n-- opt-in row-level security (docs/tenancy.md)\n${rowLevelSecuritySql({ schema })}\n`
        : integrationTablesSql({ schema });
      return { database: false, output: json ? jsonDocument({ schema, sql }) : sql };
    }
    case 'prisma': {
      if (values['database-url'] !== undefined || values.schema !== undefined) {
        throw new CliUsageError(
          'prisma takes no options (for another schema, add @@schema to each model)',
        );
      }
      const models = integrationPrismaModels();
      return { database: false, output: json ? jsonDocument({ models }) : models };
    }
    case 'migrate':
      return {
        database: true,
        run: async (client) => {
          const result = await migrateIntegrationTables(client, { schema });
          if (json) return jsonDocument(result);
          return result.applied.length > 0
            ? result.applied.map((id) => `Applied ${id} to schema "${schema}"`).join('\n') + '\n'
            : `Nothing to apply: schema "${schema}" is up to date (${result.alreadyApplied.length} applied)\n`;
        },
      };
    case 'status':
      return {
        database: true,
        run: async (client) => {
          const status = await integrationMigrationStatus(client, { schema });
          if (json) return jsonDocument(status);
          const pending = status.migrations.filter((m) => m.state === 'pending').length;
          const lines = [
            `Schema "${schema}": ${status.migrations.length - pending} applied, ${pending} pending`,
            ...status.migrations.map(
              (m) => `  ${m.id}  ${m.state}${m.appliedAt ? ` ${m.appliedAt.toISOString()}` : ''}`,
            ),
            ...status.unknown.map(
              (version) => `  ${version}  applied, unknown to this version of nestjs-integration`,
            ),
          ];
          return lines.join('\n') + '\n';
        },
      };
  }
}

/**
 * `row-level-security on|off`: creates (idempotently) or drops the tenant policies of
 * `enableRowLevelSecurity` on the schema's tables, whichever way the tables were created.
 */
function rowLevelSecurityCommand(args: readonly string[], context: CliContext): CliCommand {
  const { schema, json } = context;
  const [mode] = args;
  if (args.length !== 1 || (mode !== 'on' && mode !== 'off')) {
    throw new CliUsageError('row-level-security needs on or off (e.g. row-level-security on)');
  }
  return {
    database: true,
    run: async (client) => {
      if (mode === 'on') await enableRowLevelSecurity(client, { schema });
      else await disableRowLevelSecurity(client, { schema });
      if (json) return jsonDocument({ schema, rowLevelSecurity: mode === 'on' });
      return `Row-level security ${mode} for the tenant tables of schema "${schema}"\n`;
    },
  };
}
