import type {
  AdminActionResult,
  AdminDeliveryFilter,
  AdminEventDetail,
  IntegrationAdminApi,
} from '../admin/admin.types';
import { EventNotFoundError } from '../errors/event-not-found.error';
import { DeliveryStatus } from '../processing/delivery.types';
import { cliAdmin } from './cli-admin';
import type { CliCommand, CliContext } from './cli-command';
import { expectArguments } from './cli-command';
import {
  allowOnly,
  cliActor,
  parseCount,
  parseInstant,
  parseOlderThan,
  type CliOptionName,
  type CliValues,
} from './cli-options';
import { formatTable, isoSeconds, jsonDocument, oneLine } from './cli-output';
import { CliUsageError } from './cli-usage.error';

const SUBCOMMANDS = 'list, show, replay, discard or purge';

/** The options that narrow a set of dead letters. */
const FILTER_OPTIONS: readonly CliOptionName[] = [
  'consumer',
  'event-name',
  'aggregate-type',
  'aggregate-id',
  'correlation-id',
  'tenant',
  'since',
  'until',
];

/** A bulk action's options besides its filter. */
const BULK_OPTIONS: readonly CliOptionName[] = ['dry-run', 'limit', 'actor', 'reason', 'all'];

type DeadLetterFilter = Omit<AdminDeliveryFilter, 'status'>;

/**
 * `dead-letters list|show|replay|discard|purge`: checks the command line before connecting
 * (options, dates, counts, required reasons) and returns what runs it through the admin API.
 */
export function deadLettersCommand(
  args: readonly string[],
  context: CliContext,
  now: Date = new Date(),
): CliCommand {
  const [action, ...rest] = args;
  const { values, schema, json } = context;
  const command = `dead-letters ${action}`;
  const admin = (run: (api: IntegrationAdminApi) => Promise<string>): CliCommand => ({
    database: true,
    run: (client) => run(cliAdmin(client, schema)),
  });
  const actionResult = (result: AdminActionResult): string =>
    json ? jsonDocument(result) : formatAction(result);
  switch (action) {
    case 'list': {
      allowOnly(command, values, [...FILTER_OPTIONS, 'limit', 'after']);
      expectArguments(command, rest, 0, 'no argument');
      const filter: AdminDeliveryFilter = {
        ...deadLetterFilter(values),
        status: DeliveryStatus.DeadLetter,
      };
      const page = {
        ...(values.limit === undefined ? {} : { limit: parseCount('limit', values.limit) }),
        ...(values.after === undefined ? {} : { after: values.after }),
      };
      return admin(async (api) => {
        const result = await api.listDeliveries(filter, page);
        return json ? jsonDocument(result) : formatDeadLetters(result.items, result.nextCursor);
      });
    }
    case 'show': {
      allowOnly(command, values, ['tenant']);
      expectArguments(command, rest, 1, 'an event id (dead-letters list shows them)');
      const eventId = rest[0]!;
      const tenant = tenantOption(values);
      return admin(async (api) => {
        const detail = await api.getEvent(eventId, tenant);
        if (!detail) throw new EventNotFoundError(eventId);
        return json ? jsonDocument(detail) : formatEvent(detail);
      });
    }
    case 'replay':
    case 'discard': {
      const actor = cliActor(values, context.env);
      if (rest.length > 0) {
        if (values['dry-run'] || values.limit !== undefined || values.all) {
          throw new CliUsageError(
            `--dry-run, --limit and --all go with filtered ${action}s (no event id); ` +
              'dead-letters show <eventId> shows what one event has',
          );
        }
        allowOnly(`${command} <eventId>`, values, ['consumer', 'actor', 'reason', 'tenant']);
        expectArguments(command, rest, 1, 'an event id');
        const eventId = rest[0]!;
        const consumer = values.consumer;
        const by = { actor, ...(values.reason === undefined ? {} : { reason: values.reason }) };
        const tenant = tenantOption(values);
        if (action === 'replay') {
          return admin(async (api) =>
            actionResult(
              consumer === undefined
                ? await api.replayEvent(eventId, by, tenant)
                : await api.replayDelivery(eventId, consumer, by, tenant),
            ),
          );
        }
        if (consumer === undefined) {
          throw new CliUsageError(
            'dead-letters discard <eventId> needs --consumer <name>: it discards one ' +
              "consumer's delivery (dead-letters show <eventId> lists them)",
          );
        }
        requireReason(command, values);
        return admin(async (api) =>
          actionResult(await api.discardDelivery(eventId, consumer, by, tenant)),
        );
      }
      allowOnly(command, values, [...FILTER_OPTIONS, ...BULK_OPTIONS]);
      const filter = deadLetterFilter(values);
      if (Object.keys(filter).length === 0 && !values.all) {
        throw new CliUsageError(
          `${command} needs an event id, a filter (--consumer, --event-name, --since…) or --all ` +
            `to ${action} every dead letter`,
        );
      }
      if (action === 'discard') requireReason(command, values);
      const options = bulkOptions(values, actor);
      return admin(async (api) =>
        actionResult(
          action === 'replay'
            ? await api.replayDeliveries(filter, options)
            : await api.discardDeliveries(filter, options),
        ),
      );
    }
    case 'purge': {
      allowOnly(command, values, [
        'older-than',
        'consumer',
        'tenant',
        'dry-run',
        'limit',
        'actor',
        'reason',
      ]);
      expectArguments(command, rest, 0, 'no argument');
      if (values['older-than'] === undefined) {
        throw new CliUsageError(
          'dead-letters purge needs --older-than <age or date>, e.g. --older-than 30d',
        );
      }
      const olderThan = parseOlderThan(values['older-than'], now);
      requireReason(command, values);
      const filter = {
        olderThan,
        ...(values.consumer === undefined ? {} : { consumer: values.consumer }),
        ...tenantOption(values),
      };
      const options = bulkOptions(values, cliActor(values, context.env));
      return admin(async (api) => actionResult(await api.purgeDeadLetters(filter, options)));
    }
    case undefined:
      throw new CliUsageError(`dead-letters needs a subcommand (${SUBCOMMANDS})`);
    default:
      throw new CliUsageError(`unknown subcommand "dead-letters ${action}" (${SUBCOMMANDS})`);
  }
}

/** `--tenant <id>` as the admin API's tenant option (absent: every tenant). */
function tenantOption(values: CliValues): { tenantId?: string } {
  return values.tenant === undefined ? {} : { tenantId: values.tenant };
}

/** The delivery filter the options give (absent options are absent keys, not `undefined`). */
function deadLetterFilter(values: CliValues): DeadLetterFilter {
  const filter: { -readonly [K in keyof DeadLetterFilter]: DeadLetterFilter[K] } = {};
  if (values.consumer !== undefined) filter.consumer = values.consumer;
  if (values['event-name'] !== undefined) filter.eventName = values['event-name'];
  if (values['aggregate-type'] !== undefined) filter.aggregateType = values['aggregate-type'];
  if (values['aggregate-id'] !== undefined) filter.aggregateId = values['aggregate-id'];
  if (values['correlation-id'] !== undefined) filter.correlationId = values['correlation-id'];
  if (values.tenant !== undefined) filter.tenantId = values.tenant;
  if (values.since !== undefined) filter.from = parseInstant('since', values.since);
  if (values.until !== undefined) filter.to = parseInstant('until', values.until);
  return filter;
}

function bulkOptions(
  values: CliValues,
  actor: string,
): { actor: string; reason?: string; dryRun: boolean; limit?: number } {
  return {
    actor,
    ...(values.reason === undefined ? {} : { reason: values.reason }),
    dryRun: values['dry-run'] === true,
    ...(values.limit === undefined ? {} : { limit: parseCount('limit', values.limit) }),
  };
}

function requireReason(command: string, values: CliValues): void {
  if (values.reason === undefined) {
    throw new CliUsageError(
      `${command} needs --reason <text>: why, in your words (recorded in the audit table)`,
    );
  }
}

const VERBS: Readonly<Record<AdminActionResult['action'], string>> = {
  replay: 'replayed',
  discard: 'discarded',
  'purge-dead-letters': 'purged',
};

/** One line: what an action did (or would do), whether it is complete, and its audit row. */
function formatAction(result: AdminActionResult): string {
  const verb = VERBS[result.action];
  const count = `${result.affected} ${result.affected === 1 ? 'delivery' : 'deliveries'}`;
  if (result.dryRun) {
    return (
      `Dry run: ${count} would be ${verb}` +
      (result.complete ? '' : ', and more match beyond the limit') +
      `; nothing changed (audit row ${result.auditId}, marked dry run)\n`
    );
  }
  const done = `${verb[0]!.toUpperCase()}${verb.slice(1)} ${count}`;
  return result.complete
    ? `${done}; complete (audit row ${result.auditId})\n`
    : `${done}; more still match: run the same command again to continue (audit row ${result.auditId})\n`;
}

function formatDeadLetters(
  items: Awaited<ReturnType<IntegrationAdminApi['listDeliveries']>>['items'],
  nextCursor: string | null,
): string {
  if (items.length === 0) return 'No dead letters match.\n';
  const table = formatTable(
    [
      ['EVENT ID', 'CONSUMER', 'EVENT NAME', 'TENANT', 'ATTEMPTS', 'DEAD SINCE', 'LAST ERROR'],
      ...items.map((d) => [
        d.eventId,
        d.consumer,
        d.eventName,
        d.tenantId ?? '',
        String(d.attemptCount),
        isoSeconds(d.updatedAt),
        oneLine(d.lastError),
      ]),
    ],
    'llllrll',
  );
  return nextCursor === null ? table : `${table}More: add --after ${nextCursor}\n`;
}

function formatEvent(detail: AdminEventDetail): string {
  const { event } = detail;
  const indent = (text: string): string => text.replace(/^/gm, '  ');
  const lines = [
    `Event ${event.id}: ${event.name} v${event.version}`,
    `  aggregate    ${event.aggregateType} ${event.aggregateId}`,
    `  tenant       ${event.tenantId ?? '(none)'}`,
    `  correlation  ${event.correlationId ?? '(none)'}`,
    `  causation    ${event.causationId ?? '(none)'}`,
    `  created      ${event.createdAt.toISOString()}`,
    'Payload:',
    indent(JSON.stringify(event.payload, null, 2)),
    'Headers:',
    indent(JSON.stringify(event.headers, null, 2)),
    'Deliveries:',
  ];
  const deliveries =
    detail.deliveries.length === 0
      ? '  none yet (the event is not sequenced yet)\n'
      : indent(
          formatTable(
            [
              ['CONSUMER', 'STATUS', 'ATTEMPTS', 'NEXT ATTEMPT', 'LEASE HOLDER', 'LAST ERROR'],
              ...detail.deliveries.map((d) => [
                d.consumer,
                d.status,
                String(d.attemptCount),
                d.status === DeliveryStatus.Pending ? isoSeconds(d.availableAt) : '',
                d.lockedBy ?? '',
                oneLine(d.lastError),
              ]),
            ],
            'llrlll',
          ),
        ).replace(/ +$/gm, '');
  const correlated =
    detail.correlated.length === 0
      ? ''
      : 'Correlated events:\n' +
        indent(
          formatTable(
            [
              ['EVENT ID', 'EVENT NAME', 'CREATED'],
              ...detail.correlated.map((e) => [e.id, e.name, isoSeconds(e.createdAt)]),
            ],
            'lll',
          ),
        ).replace(/ +$/gm, '');
  return `${lines.join('\n')}\n${deliveries}${correlated}`;
}
