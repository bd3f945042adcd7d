import { InvalidEventIdError } from '../errors/invalid-event-id.error';
import { InvalidQueryError } from '../errors/invalid-query.error';
import { MAX_TEXT_FIELD_LENGTH, unstorableStringReason } from '../events/event-validation';
import { isUuid } from '../events/uuid';
import { closestMatch } from '../utils/closest-match';

/** Largest `limit` a query accepts (PostgreSQL `int`). */
export const MAX_QUERY_LIMIT = 2_147_483_647;

/** Options of `IntegrationAdminService.findEventsByAggregate`. */
export interface FindEventsByAggregateOptions {
  /**
   * The tenant whose events to return: the tenant is part of the aggregate's identity, so
   * `Order 1` of tenant A and `Order 1` of tenant B are different aggregates. `null` or absent:
   * only events published without a tenant. @default null
   */
  readonly tenantId?: string | null;
}

/** The event fields of a dead-letter replay filter (`ReplayDeliveriesFilter` adds the delivery's). */
export interface DeadLetterFilter {
  readonly eventName?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  /** Only this tenant's events; `null`: only events without a tenant. @default every tenant */
  readonly tenantId?: string | null;
  /** At most this many (oldest first): an integer from 1 to 2147483647. @default all */
  readonly limit?: number;
}

const DEAD_LETTER_FILTER_KEYS = [
  'eventName',
  'aggregateType',
  'aggregateId',
  'tenantId',
  'limit',
] as const satisfies ReadonlyArray<keyof DeadLetterFilter>;

const FIND_BY_AGGREGATE_KEYS = ['tenantId'] as const satisfies ReadonlyArray<
  keyof FindEventsByAggregateOptions
>;

function describe(value: unknown): string {
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `a ${value.constructor?.name ?? 'object'}`;
  return `${typeof value} ${String(value)}`;
}

/**
 * Refuses anything but a plain object whose own keys are all in `known` (an unknown key names
 * the closest known one). Shared by the query validators of the outbox and the deliveries.
 */
export function checkKeys(
  method: string,
  field: string,
  value: unknown,
  known: readonly string[],
): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidQueryError(method, field, `must be an object (got ${describe(value)})`);
  }
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidQueryError(
        method,
        `${field}.${key}`,
        `is not a known key (did you mean '${closestMatch(key, known)}'?); ` +
          `known keys: ${known.join(', ')}`,
      );
    }
  }
  return value as Record<string, unknown>;
}

/** A short storable text (1–200 characters), else `InvalidQueryError` naming `method` and `field`. */
export function checkText(method: string, field: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new InvalidQueryError(method, field, `must be a string (got ${describe(value)})`);
  }
  if (value.length === 0 || value.length > MAX_TEXT_FIELD_LENGTH) {
    throw new InvalidQueryError(
      method,
      field,
      `must be 1 to ${MAX_TEXT_FIELD_LENGTH} characters (got ${value.length})`,
    );
  }
  const reason = unstorableStringReason(value);
  if (reason) throw new InvalidQueryError(method, field, reason);
  return value;
}

/** A tenant: a short storable text, or `null` / absent for "no tenant". */
export function checkTenant(method: string, field: string, value: unknown): string | null {
  return value === undefined || value === null ? null : checkText(method, field, value);
}

/** Validates an outbox event id (a UUID) before it reaches SQL. */
export function checkEventId(value: unknown, field = 'eventId'): string {
  if (!isUuid(value)) throw new InvalidEventIdError(describe(value), field);
  return value;
}

/** A {@link DeadLetterFilter} with every field checked and absent ones made explicit. */
export interface CheckedDeadLetterFilter {
  readonly eventName: string | null;
  readonly aggregateType: string | null;
  readonly aggregateId: string | null;
  /** `undefined`: every tenant; `null`: only events without a tenant. */
  readonly tenantId: string | null | undefined;
  readonly limit: number;
}

/**
 * Validates a `replayDeadLetters` filter: only known keys (a misspelt key would otherwise
 * widen the filter to every dead letter), strings for the text fields, `limit` an integer from
 * 1 to {@link MAX_QUERY_LIMIT}. `method` names the API in errors (another query that takes
 * these fields reuses the check).
 */
export function checkDeadLetterFilter(
  filter: unknown,
  method = 'replayDeadLetters',
): CheckedDeadLetterFilter {
  const f = checkKeys(method, 'filter', filter ?? {}, DEAD_LETTER_FILTER_KEYS);
  const optional = (key: 'eventName' | 'aggregateType' | 'aggregateId'): string | null =>
    f[key] === undefined ? null : checkText(method, `filter.${key}`, f[key]);
  const limit = f.limit;
  if (
    limit !== undefined &&
    (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT)
  ) {
    throw new InvalidQueryError(
      method,
      'filter.limit',
      `must be an integer from 1 to ${MAX_QUERY_LIMIT} (got ${describe(limit)}); leave it out to replay every match`,
    );
  }
  return {
    eventName: optional('eventName'),
    aggregateType: optional('aggregateType'),
    aggregateId: optional('aggregateId'),
    tenantId:
      f.tenantId === undefined ? undefined : checkTenant(method, 'filter.tenantId', f.tenantId),
    limit: (limit as number | undefined) ?? MAX_QUERY_LIMIT,
  };
}

/** Validates the arguments of `findEventsByAggregate`; returns the tenant (`null`: none). */
export function checkAggregateQuery(
  aggregateType: unknown,
  aggregateId: unknown,
  options: unknown,
): { aggregateType: string; aggregateId: string; tenantId: string | null } {
  const method = 'findEventsByAggregate';
  const o = checkKeys(method, 'options', options ?? {}, FIND_BY_AGGREGATE_KEYS);
  return {
    aggregateType: checkText(method, 'aggregateType', aggregateType),
    aggregateId: checkText(method, 'aggregateId', aggregateId),
    tenantId: checkTenant(method, 'options.tenantId', o.tenantId),
  };
}
