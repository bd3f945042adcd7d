import { clientExecutor } from './cli-connection';
import type { CliCommand, CliContext } from './cli-command';
import { expectArguments } from './cli-command';
import { allowOnly } from './cli-options';
import { jsonDocument, formatTable } from './cli-output';
import { CliUsageError } from './cli-usage.error';
import { ConsumerDirectoryRepository } from '../consumers/consumer-directory.repository';
import { checkConsumerName, checkRetireOptions } from '../consumers/consumer-directory.validation';
import type { ConsumerInfo } from '../consumers/consumer.types';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import { UnknownConsumerError } from '../errors/unknown-consumer.error';
import { closestMatch } from '../utils/closest-match';

const SUBCOMMANDS = 'list, retire or reactivate';

/**
 * `consumers list|retire|reactivate`: checks the command line before connecting and returns
 * what runs it.
 */
export function consumersCommand(args: readonly string[], context: CliContext): CliCommand {
  const [action, ...rest] = args;
  const { values, schema, json } = context;
  const repository = new ConsumerDirectoryRepository(new IntegrationTables(schema));
  const unknown = async (sql: SqlExecutor, consumer: string): Promise<UnknownConsumerError> =>
    new UnknownConsumerError(consumer, closestMatch(consumer, await repository.names(sql)));
  const command = `consumers ${action}`;
  const database = (run: (sql: SqlExecutor) => Promise<string>): CliCommand => ({
    database: true,
    run: (client) => run(clientExecutor(client)),
  });
  switch (action) {
    case 'list':
      allowOnly(command, values, []);
      expectArguments(command, rest, 0, 'no argument');
      return database(async (sql) => {
        const consumers = await repository.list(sql);
        return json ? jsonDocument(consumers) : formatConsumers(consumers, schema);
      });
    case 'retire': {
      allowOnly(command, values, ['reason']);
      expectArguments(command, rest, 1, 'a consumer name');
      const consumer = checkConsumerName(rest[0], command);
      const reason = checkRetireOptions(
        values.reason === undefined ? undefined : { reason: values.reason },
        command,
      );
      return database(async (sql) => {
        const result = await repository.retire(sql, consumer, reason);
        if (!result.retired && !(await repository.find(sql, consumer))) {
          throw await unknown(sql, consumer);
        }
        if (json) {
          return jsonDocument({
            consumer,
            reason,
            retired: result.retired,
            skipped: result.skipped,
          });
        }
        return (
          `${result.retired ? 'Retired' : 'Already retired:'} consumer "${consumer}" ` +
          `(consumer retired: ${reason}); ${result.skipped} unfinished deliveries skipped\n`
        );
      });
    }
    case 'reactivate': {
      allowOnly(command, values, []);
      expectArguments(command, rest, 1, 'a consumer name');
      const consumer = checkConsumerName(rest[0], command);
      return database(async (sql) => {
        const reactivated = await repository.reactivate(sql, consumer);
        if (!reactivated && !(await repository.find(sql, consumer))) {
          throw await unknown(sql, consumer);
        }
        if (json) return jsonDocument({ consumer, reactivated });
        return reactivated
          ? `Reactivated consumer "${consumer}" (events published while it was retired are not delivered to it)\n`
          : `Consumer "${consumer}" is active already\n`;
      });
    }
    case undefined:
      throw new CliUsageError(`consumers needs a subcommand (${SUBCOMMANDS})`);
    default:
      throw new CliUsageError(`unknown subcommand "consumers ${action}" (${SUBCOMMANDS})`);
  }
}

/** The `consumers list` table: one line per consumer. */
function formatConsumers(consumers: readonly ConsumerInfo[], schema: string): string {
  if (consumers.length === 0) {
    return (
      `No consumers in schema "${schema}" yet: an instance announces its consumers when its ` +
      'processor starts.\n'
    );
  }
  return formatTable(
    [
      ['NAME', 'STATUS', 'HOSTS ALIVE', 'PENDING', 'PROCESSING', 'DEAD LETTERS'],
      ...consumers.map((c) => [
        c.name,
        c.status,
        `${c.hosts.filter((h) => h.alive).length}/${c.hosts.length}`,
        String(c.deliveries.pending),
        String(c.deliveries.processing),
        String(c.deliveries.deadLetter),
      ]),
    ],
    'llrrrr',
  );
}
