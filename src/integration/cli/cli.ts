import { Client } from 'pg';
import { parseArgs } from 'node:util';
import { InvalidSchemaNameError } from '../errors/invalid-schema-name.error';
import { integrationTablesSql } from '../database/integration-migrations';
import { integrationPrismaModels } from '../database/prisma-fragment';
import { integrationMigrationStatus, migrateIntegrationTables } from '../database/migration-runner';
import { validateSchemaName } from '../database/schema-name';

/** Exit codes of the `nestjs-integration` bin. */
export enum CliExitCode {
  Ok = 0,
  /** The database refused or failed: connection, privileges, a failed migration. */
  Failed = 1,
  /** Wrong command line: unknown command or option, missing URL, invalid schema name. */
  Usage = 2,
}

/** Where the CLI writes, and the environment it reads (`DATABASE_URL`). */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Application name the CLI's connections show in `pg_stat_activity`. */
export const CLI_APPLICATION_NAME = 'nestjs-integration';

export const CLI_USAGE = `Usage: nestjs-integration <command> [options]

Creates and upgrades the tables of nestjs-integration (outbox_event, inbox_event, integration_link).

Commands:
  migrate   apply the missing migrations (one transaction, advisory lock; idempotent)
  status    list applied and pending migrations
  sql       print the SQL of every migration (for Prisma Migrate, Flyway or a DBA); no database
  prisma    print the Prisma models of the tables (save as prisma/nestjs-integration.prisma)

Options:
  --database-url <url>  postgres:// URL (migrate, status); default: DATABASE_URL
  --schema <name>       schema of the tables, a lowercase identifier; default: public
  -h, --help            this help

Exit codes: 0 done, 1 the database failed (nothing half-applied), 2 wrong command line.
`;

class UsageError extends Error {}

/**
 * Runs the `nestjs-integration` command line and returns its exit code (never rejects).
 * Prints results on stdout and one message per problem on stderr; nothing else.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<CliExitCode> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'database-url': { type: 'string' },
        schema: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, ...extra] = positionals;
    if (values.help || command === 'help') {
      io.stdout(CLI_USAGE);
      return CliExitCode.Ok;
    }
    if (command === undefined)
      throw new UsageError('a command is required (migrate, status, sql or prisma)');
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const schema = validateSchemaName(values.schema);
    switch (command) {
      case 'sql':
        if (values['database-url'] !== undefined) {
          throw new UsageError('sql needs no database: remove --database-url');
        }
        io.stdout(integrationTablesSql({ schema }));
        return CliExitCode.Ok;
      case 'prisma':
        if (values['database-url'] !== undefined || values.schema !== undefined) {
          throw new UsageError(
            'prisma takes no options (for another schema, add @@schema to each model)',
          );
        }
        io.stdout(integrationPrismaModels());
        return CliExitCode.Ok;
      case 'migrate':
      case 'status': {
        const url = databaseUrl(values['database-url'] ?? io.env.DATABASE_URL);
        return await withClient(url, async (client) => {
          if (command === 'migrate') {
            const result = await migrateIntegrationTables(client, { schema });
            io.stdout(
              result.applied.length > 0
                ? result.applied.map((id) => `Applied ${id} to schema "${schema}"`).join('\n') +
                    '\n'
                : `Nothing to apply: schema "${schema}" is up to date (${result.alreadyApplied.length} applied)\n`,
            );
          } else {
            const status = await integrationMigrationStatus(client, { schema });
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
            io.stdout(lines.join('\n') + '\n');
          }
          return CliExitCode.Ok;
        });
      }
      default:
        throw new UsageError(`unknown command "${command}" (migrate, status, sql or prisma)`);
    }
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      error instanceof InvalidSchemaNameError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    io.stderr(`nestjs-integration: ${error instanceof Error ? error.message : String(error)}\n`);
    if (usage) io.stderr('Run "nestjs-integration --help" for usage.\n');
    return usage ? CliExitCode.Usage : CliExitCode.Failed;
  }
}

function databaseUrl(value: string | undefined): string {
  if (!value) {
    throw new UsageError('no database: pass --database-url postgres://… or set DATABASE_URL');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new UsageError(
      '--database-url is not a URL: expected postgres://user:password@host:port/database',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new UsageError(
      `--database-url must start with postgres:// or postgresql:// (got ${url.protocol}//)`,
    );
  }
  return value;
}

async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({
    connectionString: url,
    connectionTimeoutMillis: 10_000,
    application_name: CLI_APPLICATION_NAME,
  });
  // A connection lost mid-run rejects the pending query; without a listener it would also crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `cannot connect to ${maskPassword(url)}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function maskPassword(value: string): string {
  const url = new URL(value);
  if (url.password) url.password = '***';
  return url.toString();
}
