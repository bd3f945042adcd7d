import { parseArgs } from 'node:util';
import { validateSchemaName } from '../database/schema-name';
import { DeliveryNotFoundError } from '../errors/delivery-not-found.error';
import { EventNotFoundError } from '../errors/event-not-found.error';
import { InvalidConsumerNameError } from '../errors/invalid-consumer-name.error';
import { InvalidDeliveryStateError } from '../errors/invalid-delivery-state.error';
import { InvalidEventIdError } from '../errors/invalid-event-id.error';
import { InvalidQueryError } from '../errors/invalid-query.error';
import { InvalidSchemaNameError } from '../errors/invalid-schema-name.error';
import { UnknownConsumerError } from '../errors/unknown-consumer.error';
import type { CliCommand, CliContext } from './cli-command';
import { databaseUrl, withClient } from './cli-connection';
import { CLI_OPTIONS } from './cli-options';
import { CliUsageError } from './cli-usage.error';
import { consumersCommand } from './consumers.command';
import { deadLettersCommand } from './dead-letters.command';
import { SCHEMA_COMMANDS, schemaCommand } from './schema.command';
import { statsCommand } from './stats.command';

export { CLI_APPLICATION_NAME } from './cli-connection';

/** Exit codes of the `nestjs-integration` bin. */
export enum CliExitCode {
  Ok = 0,
  /** The database refused or failed: connection, privileges, a failed migration. */
  Failed = 1,
  /**
   * Wrong command line: unknown command or option, missing URL, invalid schema name, an invalid
   * filter, an unknown consumer or event.
   */
  Usage = 2,
}

/** Where the CLI writes, and the environment it reads (`DATABASE_URL`). */
export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  readonly env: Readonly<Record<string, string | undefined>>;
}

const COMMANDS =
  'migrate, status, sql, prisma, row-level-security, stats, dead-letters or consumers';

export const CLI_USAGE = `Usage: nestjs-integration <command> [options]

Creates and upgrades the tables of nestjs-integration, and operates them: backlog, dead letters,
consumers. Every command talks to the database directly (no running app needed).

Schema:
  migrate   apply the missing migrations (one transaction, advisory lock; idempotent)
  status    list applied and pending migrations
  sql       print the SQL of every migration (for Prisma Migrate, Flyway or a DBA); no database;
            with --row-level-security, followed by the SQL of the tenant policies
  prisma    print the Prisma models of the tables (save as prisma/nestjs-integration.prisma)
  row-level-security on|off
            create (idempotent) or drop the opt-in tenant policies on the tables holding a
            tenant's rows (docs/tenancy.md); run it as the tables' owner

Operations:
  stats [--minutes <n>] [--tenant <id>]   backlog per consumer, deliveries settled in the last
                                          n minutes (default 15), unsequenced events; with
                                          --tenant, that tenant's backlog and unsequenced events
  dead-letters list [filters] [--limit <n>] [--after <cursor>]
                                          dead letters, newest first, 50 a page (at most 500)
  dead-letters show <eventId>             one event: payload, headers, every consumer's
                                          delivery, the events of its correlation id
  dead-letters replay <eventId> [--consumer <name>]
                                          one event's dead letters (or one consumer's) back to
                                          pending
  dead-letters replay (filters | --all) [--dry-run] [--limit <n>]
                                          the matching dead letters back to pending
  dead-letters discard <eventId> --consumer <name> --reason <text>
                                          mark one delivery skipped
  dead-letters discard (filters | --all) --reason <text> [--dry-run] [--limit <n>]
                                          mark the matching dead letters skipped
  dead-letters purge --older-than <age|date> --reason <text> [--consumer <name>]
                     [--dry-run] [--limit <n>]
                                          delete dead letters last changed before then
  consumers list                          consumers with status, live hosts and backlog
  consumers retire <name> [--reason <t>]  retire a consumer: no new deliveries, and its
                                          pending, processing and dead-letter ones are skipped
  consumers reactivate <name>             make a retired consumer active again (events
                                          published meanwhile are not delivered to it)

Filters (dead-letters list, replay, discard; every one given must match):
  --consumer <name>  --event-name <name>  --aggregate-type <type>  --aggregate-id <id>
  --correlation-id <id>  --tenant <id>    (--tenant also limits show, replay/discard <eventId>
                                           and purge to that tenant's events)
  --since <date>  --until <date>    when the delivery was dead-lettered: an ISO 8601 date
                                    (2026-01-31, midnight UTC) or date-time with its zone
                                    (2026-01-31T08:00:00Z); since inclusive, until exclusive

Options:
  --database-url <url>  postgres:// URL (every command but sql and prisma); default: DATABASE_URL
  --schema <name>       schema of the tables, a lowercase identifier; default: public
  --json                print one JSON document on stdout instead of text
  --actor <name>        who acts, recorded in the audit table; default: cli:<os user>
  --reason <text>       why: required to discard and purge, optional to replay (audit table);
                        for consumers retire, recorded on each skipped delivery as
                        "consumer retired: <text>"
  --dry-run             count what a bulk action would change and change nothing (an audit
                        row marked dry run is still written)
  --limit <n>           bulk actions: at most n deliveries this run (default 10000), in short
                        batches; when more match, run the same command again to continue
  --older-than <v>      an age (90m, 12h, 7d, 2w) or an ISO 8601 date
  -h, --help            this help

Exit codes: 0 done, 1 the database failed (a bulk action keeps the batches it committed),
2 wrong command line (including an invalid filter, or an unknown consumer or event).
`;

/**
 * Runs the `nestjs-integration` command line and returns its exit code (never rejects).
 * Prints results on stdout and one message per problem on stderr; nothing else.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<CliExitCode> {
  try {
    const { values, positionals } = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: CLI_OPTIONS,
    });
    const [name, ...args] = positionals;
    if (values.help || name === 'help') {
      io.stdout(CLI_USAGE);
      return CliExitCode.Ok;
    }
    if (name === undefined) throw new CliUsageError(`a command is required (${COMMANDS})`);
    const context: CliContext = {
      values,
      env: io.env,
      schema: validateSchemaName(values.schema),
      json: values.json === true,
    };
    const command = prepare(name, args, context);
    if (!command.database) {
      io.stdout(command.output);
      return CliExitCode.Ok;
    }
    const url = databaseUrl(values['database-url'] ?? io.env.DATABASE_URL);
    io.stdout(await withClient(url, (client) => command.run(client)));
    return CliExitCode.Ok;
  } catch (error) {
    const usage =
      error instanceof CliUsageError ||
      error instanceof InvalidSchemaNameError ||
      (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    // Wrong values, not wrong syntax: their messages already say what to do instead.
    const wrongValue =
      error instanceof InvalidConsumerNameError ||
      error instanceof UnknownConsumerError ||
      error instanceof InvalidQueryError ||
      error instanceof InvalidEventIdError ||
      error instanceof EventNotFoundError ||
      error instanceof DeliveryNotFoundError ||
      error instanceof InvalidDeliveryStateError;
    io.stderr(`nestjs-integration: ${error instanceof Error ? error.message : String(error)}\n`);
    if ((error as { code?: string }).code === '42P01') {
      io.stderr(
        'The tables of this command are missing: run "nestjs-integration migrate" (same --schema) first.\n',
      );
    }
    if (usage) io.stderr('Run "nestjs-integration --help" for usage.\n');
    return usage || wrongValue ? CliExitCode.Usage : CliExitCode.Failed;
  }
}

/** Checks the command line of command `name` before any connection. */
function prepare(name: string, args: readonly string[], context: CliContext): CliCommand {
  if ((SCHEMA_COMMANDS as readonly string[]).includes(name)) {
    return schemaCommand(name as (typeof SCHEMA_COMMANDS)[number], args, context);
  }
  switch (name) {
    case 'stats':
      return statsCommand(args, context);
    case 'dead-letters':
      return deadLettersCommand(args, context);
    case 'consumers':
      return consumersCommand(args, context);
    default:
      throw new CliUsageError(`unknown command "${name}" (${COMMANDS})`);
  }
}
