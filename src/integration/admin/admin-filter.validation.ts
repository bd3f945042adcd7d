import { InvalidQueryError } from '../errors/invalid-query.error';
import { unstorableStringReason } from '../events/event-validation';
import { isUuid } from '../events/uuid';
import { checkEventId, checkKeys, checkTenant, checkText } from '../outbox/outbox-query.validation';
import { DeliveryStatus } from '../processing/delivery.types';
import { describeValue } from '../utils/describe';

/** Largest page of a listing. */
export const MAX_PAGE_SIZE = 500;
/** Page size when none is given. */
export const DEFAULT_PAGE_SIZE = 50;
/** Rows a bulk action changes per call when no `limit` is given. */
export const DEFAULT_BULK_LIMIT = 10_000;
/** Largest `limit` of one bulk action call. */
export const MAX_BULK_LIMIT = 1_000_000;
/** Longest `reason` of an admin action. */
export const MAX_REASON_LENGTH = 2_000;
/** Minutes of throughput `getOverview` reads when none are given. */
export const DEFAULT_OVERVIEW_MINUTES = 60;
/** Most minutes of throughput `getOverview` reads (one day). */
export const MAX_OVERVIEW_MINUTES = 1_440;

/**
 * The statuses a delivery listing offers: each is backed by a partial index (dead letters and
 * skipped deliveries) or is small (leased ones). Pending and processed deliveries are not
 * listed: an index over them would cost a write on every delivery.
 */
export const LISTED_DELIVERY_STATUSES: readonly DeliveryStatus[] = [
  DeliveryStatus.DeadLetter,
  DeliveryStatus.Skipped,
  DeliveryStatus.Processing,
];

/** An `AdminEventFilter` checked: absent fields left out; `tenantId` `null` means no tenant. */
export interface CheckedEventFilter {
  readonly eventName?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  /** `undefined`: every tenant; `null`: only events without a tenant. */
  readonly tenantId?: string | null;
  readonly correlationId?: string;
  readonly from?: Date;
  readonly to?: Date;
}

/** An `AdminDeliveryFilter` checked, with its status made explicit. */
export interface CheckedDeliveryFilter extends CheckedEventFilter {
  readonly status: DeliveryStatus;
  readonly consumer?: string;
}

/** A page request checked: `after` decoded into the values of the listing's sort key. */
export interface CheckedPage {
  readonly limit: number;
  readonly after?: readonly string[];
}

/** Who acts and why, checked. */
export interface CheckedActor {
  readonly actor: string;
  readonly reason: string | null;
}

/** Bulk action options, checked. */
export interface CheckedBulkOptions extends CheckedActor {
  readonly dryRun: boolean;
  readonly limit: number;
}

/** The kinds of listing a cursor belongs to, and the shape of their sort keys. */
export type CursorKind = 'events' | 'deliveries' | 'audit';

const EVENT_FILTER_KEYS = [
  'eventName',
  'aggregateType',
  'aggregateId',
  'tenantId',
  'correlationId',
  'from',
  'to',
] as const;
const DELIVERY_FILTER_KEYS = [...EVENT_FILTER_KEYS, 'status', 'consumer'] as const;
const BULK_FILTER_KEYS = [...EVENT_FILTER_KEYS, 'consumer'] as const;
const PAGE_KEYS = ['limit', 'after'] as const;
const ACTOR_KEYS = ['actor', 'reason'] as const;
const BULK_OPTION_KEYS = [...ACTOR_KEYS, 'dryRun', 'limit'] as const;
const PURGE_FILTER_KEYS = ['olderThan', 'consumer', 'tenantId'] as const;
const TENANT_OPTION_KEYS = ['tenantId'] as const;
const OVERVIEW_KEYS = ['minutes', 'tenantId'] as const;

/** A timestamp as the cursors carry it (UTC, microseconds: PostgreSQL's precision). */
const CURSOR_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;
const DIGITS = /^\d{1,19}$/;

function checkInteger(
  method: string,
  field: string,
  value: unknown,
  min: number,
  max: number,
  hint: string,
): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidQueryError(
      method,
      field,
      `must be an integer from ${min} to ${max} (got ${describeValue(value)}); ${hint}`,
    );
  }
  return value;
}

function checkDate(method: string, field: string, value: unknown): Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw new InvalidQueryError(
      method,
      field,
      `must be a valid Date (got ${describeValue(value)}); parse strings with new Date(...) first`,
    );
  }
  return value;
}

/** The event fields of a filter (`f` already checked for unknown keys). */
function eventFields(method: string, f: Record<string, unknown>): CheckedEventFilter {
  const text = (key: 'eventName' | 'aggregateType' | 'aggregateId' | 'correlationId') =>
    f[key] === undefined ? {} : { [key]: checkText(method, `filter.${key}`, f[key]) };
  const date = (key: 'from' | 'to') =>
    f[key] === undefined ? {} : { [key]: checkDate(method, `filter.${key}`, f[key]) };
  const checked: CheckedEventFilter = {
    ...text('eventName'),
    ...text('aggregateType'),
    ...text('aggregateId'),
    ...text('correlationId'),
    ...(f.tenantId === undefined
      ? {}
      : { tenantId: checkTenant(method, 'filter.tenantId', f.tenantId) }),
    ...date('from'),
    ...date('to'),
  };
  if (checked.aggregateId !== undefined && checked.aggregateType === undefined) {
    throw new InvalidQueryError(
      method,
      'filter.aggregateId',
      'needs filter.aggregateType too (an aggregate id means nothing without its type, and only the pair is indexed)',
    );
  }
  if (checked.from && checked.to && checked.from.getTime() >= checked.to.getTime()) {
    throw new InvalidQueryError(
      method,
      'filter.to',
      `must be after filter.from (got from ${checked.from.toISOString()}, to ${checked.to.toISOString()})`,
    );
  }
  return checked;
}

/**
 * Validates an `AdminEventFilter`: known keys only (a misspelt key names the closest one, and
 * never widens the filter), short texts, valid dates with `from` before `to`, `aggregateId`
 * only with `aggregateType`.
 * @throws InvalidQueryError
 */
export function checkEventFilter(method: string, filter: unknown): CheckedEventFilter {
  return eventFields(method, checkKeys(method, 'filter', filter ?? {}, EVENT_FILTER_KEYS));
}

/**
 * Validates an `AdminDeliveryFilter`: the event fields of {@link checkEventFilter}, a
 * `consumer`, and a `status` among {@link LISTED_DELIVERY_STATUSES} (default dead letter).
 * @throws InvalidQueryError
 */
export function checkDeliveryFilter(method: string, filter: unknown): CheckedDeliveryFilter {
  const f = checkKeys(method, 'filter', filter ?? {}, DELIVERY_FILTER_KEYS);
  const status = f.status ?? DeliveryStatus.DeadLetter;
  if (!LISTED_DELIVERY_STATUSES.includes(status as DeliveryStatus)) {
    throw new InvalidQueryError(
      method,
      'filter.status',
      `must be one of ${LISTED_DELIVERY_STATUSES.join(', ')} (got ${describeValue(status)}); ` +
        'pending and processed deliveries are not listed (an index over them would slow every ' +
        'delivery): find them through their events (listEvents, getEvent), and read the backlog ' +
        'per consumer with getOverview',
    );
  }
  return {
    ...eventFields(method, f),
    status: status as DeliveryStatus,
    ...(f.consumer === undefined
      ? {}
      : { consumer: checkText(method, 'filter.consumer', f.consumer) }),
  };
}

/**
 * Validates the filter of a bulk replay or discard: the fields of an `AdminDeliveryFilter`
 * but `status` (always dead letters).
 * @throws InvalidQueryError
 */
export function checkBulkFilter(method: string, filter: unknown): CheckedDeliveryFilter {
  const f = checkKeys(method, 'filter', filter, BULK_FILTER_KEYS);
  return checkDeliveryFilter(method, { ...f, status: DeliveryStatus.DeadLetter });
}

/**
 * Validates the filter of `purgeDeadLetters`: `olderThan` (a Date, required), an optional
 * `consumer` and an optional `tenantId`.
 * @throws InvalidQueryError
 */
export function checkPurgeFilter(
  method: string,
  filter: unknown,
): { readonly olderThan: Date; readonly consumer?: string; readonly tenantId?: string | null } {
  const f = checkKeys(method, 'filter', filter, PURGE_FILTER_KEYS);
  return {
    olderThan: checkDate(method, 'filter.olderThan', f.olderThan),
    ...(f.consumer === undefined
      ? {}
      : { consumer: checkText(method, 'filter.consumer', f.consumer) }),
    ...(f.tenantId === undefined
      ? {}
      : { tenantId: checkTenant(method, 'filter.tenantId', f.tenantId) }),
  };
}

/**
 * Validates the `{ tenantId }` options of a single-row admin call; returns the tenant given
 * (`undefined`: none, `null`: rows without a tenant).
 * @throws InvalidQueryError
 */
export function checkTenantOption(method: string, options: unknown): string | null | undefined {
  const o = checkKeys(method, 'options', options ?? {}, TENANT_OPTION_KEYS);
  return o.tenantId === undefined ? undefined : checkTenant(method, 'options.tenantId', o.tenantId);
}

function checkReason(method: string, field: string, value: unknown, required: boolean) {
  if (value === undefined && !required) return null;
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_REASON_LENGTH) {
    throw new InvalidQueryError(
      method,
      field,
      `must be a text of 1 to ${MAX_REASON_LENGTH} characters (got ${describeValue(value)})` +
        (required ? `: ${method} records why it was done` : ''),
    );
  }
  const unstorable = unstorableStringReason(value);
  if (unstorable) throw new InvalidQueryError(method, field, unstorable);
  return value;
}

function actorFields(
  method: string,
  field: string,
  o: Record<string, unknown>,
  requireReason: boolean,
): CheckedActor {
  return {
    actor: checkText(method, `${field}.actor`, o.actor),
    reason: checkReason(method, `${field}.reason`, o.reason, requireReason),
  };
}

/**
 * Validates who acts (`actor`, 1–200 characters) and why (`reason`, 1–2000, required when
 * `requireReason`).
 * @throws InvalidQueryError
 */
export function checkActor(method: string, by: unknown, requireReason: boolean): CheckedActor {
  return actorFields(method, 'by', checkKeys(method, 'by', by, ACTOR_KEYS), requireReason);
}

/**
 * Validates the options of a bulk action: the actor fields of {@link checkActor}, `dryRun` a
 * boolean, `limit` an integer from 1 to {@link MAX_BULK_LIMIT} (default
 * {@link DEFAULT_BULK_LIMIT}).
 * @throws InvalidQueryError
 */
export function checkBulkOptions(
  method: string,
  options: unknown,
  requireReason: boolean,
): CheckedBulkOptions {
  const o = checkKeys(method, 'options', options, BULK_OPTION_KEYS);
  if (o.dryRun !== undefined && typeof o.dryRun !== 'boolean') {
    throw new InvalidQueryError(
      method,
      'options.dryRun',
      `must be a boolean (got ${describeValue(o.dryRun)})`,
    );
  }
  return {
    ...actorFields(method, 'options', o, requireReason),
    dryRun: o.dryRun === true,
    limit:
      o.limit === undefined
        ? DEFAULT_BULK_LIMIT
        : checkInteger(
            method,
            'options.limit',
            o.limit,
            1,
            MAX_BULK_LIMIT,
            'call again to go on: what was done no longer matches',
          ),
  };
}

/**
 * Validates `getOverview` options: `minutes` an integer from 1 to {@link MAX_OVERVIEW_MINUTES}.
 * @throws InvalidQueryError
 */
export function checkOverviewOptions(
  method: string,
  options: unknown,
): { minutes: number; tenantId: string | null | undefined } {
  const o = checkKeys(method, 'options', options ?? {}, OVERVIEW_KEYS);
  return {
    minutes:
      o.minutes === undefined
        ? DEFAULT_OVERVIEW_MINUTES
        : checkInteger(
            method,
            'options.minutes',
            o.minutes,
            1,
            MAX_OVERVIEW_MINUTES,
            'the stats table keeps per-minute rows',
          ),
    tenantId:
      o.tenantId === undefined ? undefined : checkTenant(method, 'options.tenantId', o.tenantId),
  };
}

/** The id of an event and a consumer name, checked for a single-delivery action. */
export function checkDeliveryKey(
  method: string,
  eventId: unknown,
  consumer: unknown,
): { eventId: string; consumer: string } {
  return { eventId: checkEventId(eventId), consumer: checkText(method, 'consumer', consumer) };
}

const CURSOR_SHAPES: Record<CursorKind, { tag: string; check: (values: string[]) => boolean }> = {
  // updated_at, event id, consumer
  deliveries: {
    tag: 'd',
    check: ([at, id, consumer]) =>
      CURSOR_TIME.test(at ?? '') && isUuid(id) && typeof consumer === 'string',
  },
  // created_at, seq
  events: { tag: 'e', check: ([at, seq]) => CURSOR_TIME.test(at ?? '') && DIGITS.test(seq ?? '') },
  // audit id
  audit: { tag: 'a', check: ([id]) => DIGITS.test(id ?? '') },
};

/** The opaque cursor of a page's last row (its sort key, tagged with the listing). */
export function encodeCursor(kind: CursorKind, values: readonly string[]): string {
  return Buffer.from(JSON.stringify([CURSOR_SHAPES[kind].tag, ...values])).toString('base64url');
}

function decodeCursor(method: string, kind: CursorKind, cursor: unknown): string[] {
  const shape = CURSOR_SHAPES[kind];
  let values: unknown;
  try {
    values =
      typeof cursor === 'string'
        ? JSON.parse(Buffer.from(cursor, 'base64url').toString())
        : undefined;
  } catch {
    values = undefined;
  }
  if (
    !Array.isArray(values) ||
    values[0] !== shape.tag ||
    !values.every((v) => typeof v === 'string') ||
    !shape.check(values.slice(1) as string[])
  ) {
    throw new InvalidQueryError(
      method,
      'page.after',
      `is not a cursor of this listing (got ${describeValue(cursor)}): pass the nextCursor of the previous page unchanged, or leave it out for the first page`,
    );
  }
  return values.slice(1) as string[];
}

/**
 * Validates a page request: `limit` an integer from 1 to {@link MAX_PAGE_SIZE} (default
 * {@link DEFAULT_PAGE_SIZE}), `after` a cursor of this listing.
 * @throws InvalidQueryError
 */
export function checkPage(method: string, kind: CursorKind, page: unknown): CheckedPage {
  const p = checkKeys(method, 'page', page ?? {}, PAGE_KEYS);
  return {
    limit:
      p.limit === undefined
        ? DEFAULT_PAGE_SIZE
        : checkInteger(
            method,
            'page.limit',
            p.limit,
            1,
            MAX_PAGE_SIZE,
            'follow nextCursor for more',
          ),
    ...(p.after === undefined ? {} : { after: decodeCursor(method, kind, p.after) }),
  };
}
