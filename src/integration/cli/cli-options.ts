import { userInfo } from 'node:os';
import { CliUsageError } from './cli-usage.error';

/** Every option of the `nestjs-integration` bin, in `node:util` `parseArgs` form. */
export const CLI_OPTIONS = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  reason: { type: 'string' },
  actor: { type: 'string' },
  consumer: { type: 'string' },
  'event-name': { type: 'string' },
  'aggregate-type': { type: 'string' },
  'aggregate-id': { type: 'string' },
  'correlation-id': { type: 'string' },
  tenant: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  limit: { type: 'string' },
  after: { type: 'string' },
  'dry-run': { type: 'boolean' },
  all: { type: 'boolean' },
  'older-than': { type: 'string' },
  minutes: { type: 'string' },
  'row-level-security': { type: 'boolean' },
} as const;

/** The name of a CLI option, without its dashes. */
export type CliOptionName = keyof typeof CLI_OPTIONS;

/** The parsed options: strings for valued options, booleans for flags. */
export type CliValues = {
  readonly [K in CliOptionName]?: (typeof CLI_OPTIONS)[K]['type'] extends 'boolean'
    ? boolean
    : string;
};

/** Options every command takes (each command refuses the ones it cannot use, with a reason). */
const GLOBAL_OPTIONS: readonly CliOptionName[] = ['database-url', 'schema', 'json', 'help'];

const FILTERED = 'dead-letters list, replay and discard';
const ACTIONS = 'dead-letters replay, discard and purge';

/** Where each non-global option belongs, for the message refusing it elsewhere. */
const OPTION_COMMANDS: Readonly<Record<CliOptionName, string>> = {
  'database-url': 'every command but sql and prisma',
  schema: 'every command but prisma',
  json: 'every command',
  help: 'every command',
  reason: `consumers retire and ${ACTIONS}`,
  actor: ACTIONS,
  consumer: 'the dead-letters commands',
  'event-name': FILTERED,
  'aggregate-type': FILTERED,
  'aggregate-id': FILTERED,
  'correlation-id': FILTERED,
  tenant: 'the dead-letters commands and stats',
  since: FILTERED,
  until: FILTERED,
  limit: 'dead-letters list, replay, discard and purge',
  after: 'dead-letters list',
  'dry-run': ACTIONS,
  all: 'dead-letters replay and discard',
  'older-than': 'dead-letters purge',
  minutes: 'stats',
  'row-level-security': 'sql',
};

/**
 * Refuses any option given that `command` does not take, naming the commands it goes with: an
 * option ignored silently could make an operator believe a filter applied.
 */
export function allowOnly(
  command: string,
  values: CliValues,
  allowed: readonly CliOptionName[],
): void {
  for (const option of Object.keys(values) as CliOptionName[]) {
    if (values[option] === undefined) continue;
    if (GLOBAL_OPTIONS.includes(option) || allowed.includes(option)) continue;
    throw new CliUsageError(
      `--${option} does not go with "${command}" (it goes with ${OPTION_COMMANDS[option]})`,
    );
  }
}

const ISO_DATE =
  /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}(?::?\d{2})?))?$/i;

/**
 * An instant from `--since`, `--until` or `--older-than`: an ISO 8601 date (`2026-01-31`,
 * midnight UTC) or date-time with its zone (`2026-01-31T08:00:00Z`, `…+02:00`). A date-time
 * without a zone is refused: the machine's zone would silently shift the filter.
 */
export function parseInstant(option: string, value: string): Date {
  const date = ISO_DATE.test(value) ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime()) || !isCalendarDate(value.slice(0, 10))) {
    throw new CliUsageError(
      `--${option} must be an ISO 8601 date or date-time with a zone, e.g. 2026-01-31 or ` +
        `2026-01-31T08:00:00Z (got ${JSON.stringify(value)})`,
    );
  }
  return date;
}

/** `YYYY-MM-DD` names a real day (JavaScript would roll 2026-02-30 over to March 2). */
function isCalendarDate(ymd: string): boolean {
  const [y, m, d] = ymd.split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

const DURATION = /^(\d+)(s|m|h|d|w)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/**
 * `--older-than`: an ISO date or date-time (see {@link parseInstant}) or an age such as `90m`,
 * `12h`, `7d`, `2w` counted back from `now`.
 */
export function parseOlderThan(value: string, now: Date): Date {
  const age = DURATION.exec(value);
  if (age) {
    const ms = Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS];
    if (ms > 0 && Number.isSafeInteger(ms)) return new Date(now.getTime() - ms);
  } else if (/^\d{4}-/.test(value)) {
    return parseInstant('older-than', value);
  }
  throw new CliUsageError(
    '--older-than must be an age such as 90m, 12h, 7d or 2w, or an ISO 8601 date such as ' +
      `2026-01-31 (got ${JSON.stringify(value)})`,
  );
}

/** A whole number of at least 1 from `--limit` or `--minutes` (its upper bound is the API's). */
export function parseCount(option: string, value: string): number {
  const n = /^\d{1,15}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1)) {
    throw new CliUsageError(
      `--${option} must be a whole number of 1 or more (got ${JSON.stringify(value)})`,
    );
  }
  return n;
}

/** Who the audit table records for this run: `--actor`, else `cli:<operating-system user>`. */
export function cliActor(
  values: CliValues,
  env: Readonly<Record<string, string | undefined>>,
): string {
  if (values.actor !== undefined) return values.actor;
  let user: string | undefined;
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): fall back to the environment.
    user = env.USER ?? env.LOGNAME;
  }
  return `cli:${user || 'unknown'}`;
}
