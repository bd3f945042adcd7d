import { InvalidQueryError } from '../../errors/invalid-query.error';
import { checkKeys } from '../../outbox/outbox-query.validation';
import type {
  AdminDeliveryFilter,
  AdminEventFilter,
  BulkActionOptions,
  PageRequest,
  PurgeDeadLettersFilter,
  OverviewOptions,
  TenantOption,
} from '../admin.types';

/**
 * Turns query strings and JSON bodies of the admin HTTP API into the arguments of
 * `IntegrationAdminApi`: refuses unknown keys (naming the closest known one, so a misspelt
 * filter never widens a bulk action), converts texts to dates, numbers and booleans. The
 * values themselves (lengths, ranges, the status) are checked by the admin service. Pure.
 */

const EVENT_FILTER_KEYS = [
  'eventName',
  'aggregateType',
  'aggregateId',
  'tenantId',
  'correlationId',
  'from',
  'to',
] as const satisfies ReadonlyArray<keyof AdminEventFilter>;
const BULK_FILTER_KEYS = [...EVENT_FILTER_KEYS, 'consumer'] as const;
const DELIVERY_FILTER_KEYS = [...BULK_FILTER_KEYS, 'status'] as const;
const PAGE_KEYS = ['limit', 'after'] as const satisfies ReadonlyArray<keyof PageRequest>;

/** A parsed listing request: the filter and the page. */
export interface ParsedListing<F> {
  readonly filter: F;
  readonly page: PageRequest;
}

/** A parsed bulk action: which deliveries, and how (who, why, dry, how many). */
export interface ParsedBulkAction {
  readonly filter: Omit<AdminDeliveryFilter, 'status'>;
  readonly options: Omit<BulkActionOptions, 'actor'>;
}

/** A parsed purge of dead letters. */
export interface ParsedPurge {
  readonly filter: PurgeDeadLettersFilter;
  readonly options: Omit<BulkActionOptions, 'actor'>;
}

type Raw = Record<string, unknown>;

/** One query-string value: a single text (`?a=1&a=2` and nested objects are refused). */
function single(method: string, field: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new InvalidQueryError(method, field, 'must be given once, as plain text');
  }
  return value;
}

/** An ISO 8601 date-time (a string) or a `Date`. */
function toDate(method: string, field: string, value: unknown): Date {
  const date = value instanceof Date ? value : typeof value === 'string' ? new Date(value) : null;
  if (date === null || Number.isNaN(date.getTime()) || value === '') {
    throw new InvalidQueryError(
      method,
      field,
      `must be an ISO 8601 date-time such as 2026-01-31T12:00:00Z (got ${JSON.stringify(value)})`,
    );
  }
  return date;
}

/** A whole number, given as digits in a query string or as a JSON number. */
function toInteger(method: string, field: string, value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value)) return value;
  if (typeof value === 'string' && /^\d{1,10}$/.test(value)) return Number(value);
  throw new InvalidQueryError(
    method,
    field,
    `must be a whole number (got ${JSON.stringify(value)})`,
  );
}

function toBoolean(method: string, field: string, value: unknown): boolean {
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 'false') return value === 'true';
  throw new InvalidQueryError(
    method,
    field,
    `must be true or false (got ${JSON.stringify(value)})`,
  );
}

/**
 * The filter fields of `raw` converted: dates for `from`/`to`, `tenantId` empty meaning "events
 * without a tenant" (`null`), texts passed on for the service to check.
 */
function filterFields(method: string, prefix: string, raw: Raw, keys: readonly string[]): Raw {
  const filter: Raw = {};
  for (const key of keys) {
    const value = raw[key];
    if (value === undefined) continue;
    const field = `${prefix}${key}`;
    if (key === 'from' || key === 'to') filter[key] = toDate(method, field, value);
    else if (key === 'tenantId' && (value === '' || value === null)) filter[key] = null;
    else filter[key] = value;
  }
  return filter;
}

/** Query-string values must each be one text: checked here for every key at once. */
function queryOf(method: string, query: unknown, keys: readonly string[]): Raw {
  const raw = checkKeys(method, 'query', query ?? {}, keys);
  for (const [key, value] of Object.entries(raw)) single(method, `query.${key}`, value);
  return raw;
}

function pageOf(method: string, raw: Raw): PageRequest {
  return {
    ...(raw.limit === undefined ? {} : { limit: toInteger(method, 'query.limit', raw.limit) }),
    ...(raw.after === undefined ? {} : { after: raw.after as string }),
  };
}

/**
 * `GET …/events?eventName=…&limit=…&after=…`, or with `paged: false` the count's query
 * (filters only).
 */
export function parseEventListing(query: unknown, paged = true): ParsedListing<AdminEventFilter> {
  const method = paged ? 'GET events' : 'GET events/count';
  const raw = queryOf(method, query, [...EVENT_FILTER_KEYS, ...(paged ? PAGE_KEYS : [])]);
  return {
    filter: filterFields(method, 'query.', raw, EVENT_FILTER_KEYS) as AdminEventFilter,
    page: pageOf(method, raw),
  };
}

/**
 * `GET …/deliveries?status=…&consumer=…&limit=…&after=…` (status defaults to dead letters), or
 * with `paged: false` the count's query (filters only).
 */
export function parseDeliveryListing(
  query: unknown,
  paged = true,
): ParsedListing<AdminDeliveryFilter> {
  const method = paged ? 'GET deliveries' : 'GET deliveries/count';
  const raw = queryOf(method, query, [...DELIVERY_FILTER_KEYS, ...(paged ? PAGE_KEYS : [])]);
  const filter = filterFields(method, 'query.', raw, DELIVERY_FILTER_KEYS);
  return { filter: filter as AdminDeliveryFilter, page: pageOf(method, raw) };
}

/** `GET …/audit?limit=…&after=…` */
export function parsePage(query: unknown): PageRequest {
  const method = 'GET audit';
  return pageOf(method, queryOf(method, query, PAGE_KEYS));
}

/** `tenantId` of a query or body: empty means rows without a tenant (`null`). */
function tenantOf(raw: Raw): TenantOption {
  const value = raw.tenantId;
  if (value === undefined) return {};
  return { tenantId: value === '' || value === null ? null : (value as string) };
}

/** `GET …/audit?limit=…&after=…&tenantId=…` */
export function parseAuditListing(query: unknown): {
  readonly page: PageRequest;
  readonly options: TenantOption;
} {
  const method = 'GET audit';
  const raw = queryOf(method, query, [...PAGE_KEYS, 'tenantId']);
  return { page: pageOf(method, raw), options: tenantOf(raw) };
}

/**
 * The query of a request about one event (`GET events/:eventId`, its replays and discards):
 * `?tenantId=…` only (empty: events without a tenant).
 */
export function parseTenantQuery(method: string, query: unknown): TenantOption {
  return tenantOf(queryOf(method, query, ['tenantId']));
}

/** `GET …/overview?minutes=…&tenantId=…` */
export function parseOverview(query: unknown): OverviewOptions {
  const method = 'GET overview';
  const raw = queryOf(method, query, ['minutes', 'tenantId']);
  return {
    ...(raw.minutes === undefined
      ? {}
      : { minutes: toInteger(method, 'query.minutes', raw.minutes) }),
    ...tenantOf(raw),
  };
}

/** The body of a single-delivery or single-event action: `{ reason? }`. */
export function parseReason(method: string, body: unknown): { reason?: string } {
  const raw = checkKeys(method, 'body', body ?? {}, ['reason']);
  return raw.reason === undefined ? {} : { reason: raw.reason as string };
}

function bulkOptions(method: string, raw: Raw): Omit<BulkActionOptions, 'actor'> {
  return {
    ...(raw.reason === undefined ? {} : { reason: raw.reason as string }),
    ...(raw.dryRun === undefined ? {} : { dryRun: toBoolean(method, 'body.dryRun', raw.dryRun) }),
    ...(raw.limit === undefined ? {} : { limit: toInteger(method, 'body.limit', raw.limit) }),
  };
}

/** The body of a bulk replay or discard: `{ filter: {…}, reason?, dryRun?, limit? }`. */
export function parseBulkAction(method: string, body: unknown): ParsedBulkAction {
  const raw = checkKeys(method, 'body', body ?? {}, ['filter', 'reason', 'dryRun', 'limit']);
  const filter = checkKeys(method, 'body.filter', raw.filter ?? {}, BULK_FILTER_KEYS);
  return {
    filter: filterFields(method, 'body.filter.', filter, BULK_FILTER_KEYS),
    options: bulkOptions(method, raw),
  };
}

/** The body of a purge: `{ olderThan, consumer?, tenantId?, reason, dryRun?, limit? }`. */
export function parsePurge(body: unknown): ParsedPurge {
  const method = 'POST dead-letters/purge';
  const raw = checkKeys(method, 'body', body ?? {}, [
    'olderThan',
    'consumer',
    'tenantId',
    'reason',
    'dryRun',
    'limit',
  ]);
  if (raw.olderThan === undefined) {
    throw new InvalidQueryError(
      method,
      'body.olderThan',
      'is required: the ISO 8601 date-time before which dead letters are deleted',
    );
  }
  return {
    filter: {
      olderThan: toDate(method, 'body.olderThan', raw.olderThan),
      ...(raw.consumer === undefined ? {} : { consumer: raw.consumer as string }),
      ...tenantOf(raw),
    },
    options: bulkOptions(method, raw),
  };
}
