import { Client } from 'pg';
import { parseArgs } from 'node:util';
import { InvalidSchemaNameError } from '../errors/invalid-schema-name.error';
import { integrationTablesSql } from '../database/integration-migrations';
import { integrationPrismaModels } from '../database/prisma-fragment';
import { integrationMigrationStatus, migrateIntegrationTables } from '../database/migration-runner';
import { validateSchemaName } from '../database/schema-name';
import { IntegrationTables } from '../database/integration-tables';
import { withApplicationName } from '../database/application-name';
import type { SqlExecutor } from '../database/sql-executor';
import { ConsumerDirectoryRepository } from '../consumers/consumer-directory.repository';
import { checkConsumerName, checkRetireOptions } from '../consumers/consumer-directory.validation';
import type { ConsumerInfo } from '../consumers/consumer.types';
import { InvalidConsumerNameError } from '../errors/invalid-consumer-name.error';
import { InvalidQueryError } from '../errors/invalid-query.error';
import { UnknownConsumerError } from '../errors/unknown-consumer.error';
import { closestMatch } from '../utils/closest-match';

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
  consumers list                          consumers with status, live hosts and backlog
  consumers retire <name> [--reason <t>]  retire a consumer: no new deliveries, and its
                                          pending, processing and dead-letter ones are skipped
  consumers reactivate <name>             make a retired consumer active again (events
                                          published meanwhile are not delivered to it)

Options:
  --database-url <url>  postgres:// URL (migrate, status, consumers); default: DATABASE_URL
  --schema <name>       schema of the tables, a lowercase identifier; default: public
  --reason <text>       why a consumer is retired (consumers retire); recorded on each skipped
                        delivery as "consumer retired: <text>"
  -h, --help            this help

Exit codes: 0 done, 1 the database failed (nothing half-applied), 2 wrong command line
(including an invalid or unknown consumer name).
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
        reason: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    const [command, ...extra] = positionals;
    if (values.help || command === 'help') {
      io.stdout(CLI_USAGE);
      return CliExitCode.Ok;
    }
    if (command === undefined)
      throw new UsageError('a command is required (migrate, status, sql, prisma or consumers)');
    if (values.reason !== undefined && (command !== 'consumers' || extra[0] !== 'retire')) {
      throw new UsageError('--reason goes with "consumers retire <name>" only');
    }
    const schema = validateSchemaName(values.schema);
    if (command === 'consumers') {
      const run = consumersCommand(extra, values.reason, schema);
      const url = databaseUrl(values['database-url'] ?? io.env.DATABASE_URL);
      return await withClient(url, async (client) => {
        io.stdout(await run(clientExecutor(client)));
        return CliExitCode.Ok;
      });
    }
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
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
        throw new UsageError(
          `unknown command "${command}" (migrate, status, sql, prisma or consumers)`,
        );
    }
  } catch (error) {
    const usage =
      error instanceof UsageError ||
      error instanceof InvalidSchemaNameError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    // Wrong names, not wrong syntax: their messages already say what to do instead.
    const wrongConsumer =
      error instanceof InvalidConsumerNameError ||
      error instanceof UnknownConsumerError ||
      error instanceof InvalidQueryError;
    io.stderr(`nestjs-integration: ${error instanceof Error ? error.message : String(error)}\n`);
    if ((error as { code?: string }).code === '42P01') {
      io.stderr(
        'The tables of this command are missing: run "nestjs-integration migrate" (same --schema) first.\n',
      );
    }
    if (usage) io.stderr('Run "nestjs-integration --help" for usage.\n');
    return usage || wrongConsumer ? CliExitCode.Usage : CliExitCode.Failed;
  }
}

/**
 * Checks a `consumers` command line before connecting; returns what runs it once connected,
 * resolving with the text to print.
 */
function consumersCommand(
  args: readonly string[],
  reasonOption: string | undefined,
  schema: string,
): (sql: SqlExecutor) => Promise<string> {
  const [action, name, ...rest] = args;
  const repository = new ConsumerDirectoryRepository(new IntegrationTables(schema));
  const unknown = async (sql: SqlExecutor, consumer: string): Promise<UnknownConsumerError> =>
    new UnknownConsumerError(consumer, closestMatch(consumer, await repository.names(sql)));
  const arity = (expected: number): void => {
    const given = [name, ...rest].filter((a) => a !== undefined);
    if (given.length < expected) throw new UsageError(`consumers ${action} needs a consumer name`);
    if (given.length > expected) throw new UsageError(`unexpected argument "${given[expected]}"`);
  };
  switch (action) {
    case 'list':
      arity(0);
      return async (sql) => formatConsumers(await repository.list(sql), schema);
    case 'retire': {
      arity(1);
      const consumer = checkConsumerName(name, 'consumers retire');
      const reason = checkRetireOptions(
        reasonOption === undefined ? undefined : { reason: reasonOption },
        'consumers retire',
      );
      return async (sql) => {
        const result = await repository.retire(sql, consumer, reason);
        if (!result.retired && !(await repository.find(sql, consumer))) {
          throw await unknown(sql, consumer);
        }
        return (
          `${result.retired ? 'Retired' : 'Already retired:'} consumer "${consumer}" ` +
          `(consumer retired: ${reason}); ${result.skipped} unfinished deliveries skipped\n`
        );
      };
    }
    case 'reactivate': {
      arity(1);
      const consumer = checkConsumerName(name, 'consumers reactivate');
      return async (sql) => {
        if (await repository.reactivate(sql, consumer)) {
          return `Reactivated consumer "${consumer}" (events published while it was retired are not delivered to it)\n`;
        }
        if (!(await repository.find(sql, consumer))) throw await unknown(sql, consumer);
        return `Consumer "${consumer}" is active already\n`;
      };
    }
    case undefined:
      throw new UsageError('consumers needs a subcommand (list, retire or reactivate)');
    default:
      throw new UsageError(`unknown subcommand "consumers ${action}" (list, retire or reactivate)`);
  }
}

/** The `consumers list` table: one line per consumer, columns padded to their widest cell. */
function formatConsumers(consumers: readonly ConsumerInfo[], schema: string): string {
  if (consumers.length === 0) {
    return (
      `No consumers in schema "${schema}" yet: an instance announces its consumers when its ` +
      'processor starts.\n'
    );
  }
  const rows = [
    ['NAME', 'STATUS', 'HOSTS ALIVE', 'PENDING', 'PROCESSING', 'DEAD LETTERS'],
    ...consumers.map((c) => [
      c.name,
      c.status,
      `${c.hosts.filter((h) => h.alive).length}/${c.hosts.length}`,
      String(c.deliveries.pending),
      String(c.deliveries.processing),
      String(c.deliveries.deadLetter),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return (
    rows
      .map((r) =>
        r
          .map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n'
  );
}

/** The CLI's one connection as the repositories' executor. */
function clientExecutor(client: Client): SqlExecutor {
  return {
    query: async <TRow>(sql: string, params: readonly unknown[] = []) => {
      const result = await client.query(sql, [...params]);
      return { rows: result.rows as TRow[], rowCount: result.rowCount ?? result.rows.length };
    },
  };
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
  // Named unless the URL (`?application_name=`) or PGAPPNAME names it already.
  const client = new Client(
    withApplicationName(
      { connectionString: url, connectionTimeoutMillis: 10_000 },
      CLI_APPLICATION_NAME,
    ),
  );
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
