import {
  checkDeadLetterFilter,
  checkEventId,
  checkKeys,
  checkText,
} from '../outbox/outbox-query.validation';

/**
 * Filter of a delivery replay: which dead-lettered deliveries go back to pending. Every given
 * field must match (exact text); an empty filter replays every dead letter. Unknown keys are
 * refused with `InvalidQueryError`, so a misspelt key never widens the filter.
 */
export interface ReplayDeliveriesFilter {
  /** Only the deliveries of this event (a UUID). */
  readonly eventId?: string;
  /** Only this consumer's deliveries. */
  readonly consumer?: string;
  readonly eventName?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  /** Only this tenant's events; `null`: only events without a tenant. @default every tenant */
  readonly tenantId?: string | null;
  /** At most this many (oldest position first): an integer from 1 to 2147483647. @default all */
  readonly limit?: number;
}

/** A {@link ReplayDeliveriesFilter} with every field checked and the tenant choice explicit. */
export interface CheckedReplayFilter {
  readonly eventId?: string;
  readonly consumer?: string;
  readonly eventName?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  /** The tenant to match when `allTenants` is false (`null`: events without a tenant). */
  readonly tenantId?: string | null;
  /** True when the filter named no tenant: events of every tenant match. */
  readonly allTenants: boolean;
  readonly limit: number;
}

const REPLAY_FILTER_KEYS = [
  'eventId',
  'consumer',
  'eventName',
  'aggregateType',
  'aggregateId',
  'tenantId',
  'limit',
] as const satisfies ReadonlyArray<keyof ReplayDeliveriesFilter>;

/**
 * Validates a delivery replay filter before any SQL: only known keys (the error names the
 * closest one), `eventId` a UUID, `consumer` and the event fields short storable texts,
 * `limit` an integer from 1 to 2147483647. The event fields are checked by the outbox's
 * dead-letter filter check, so both replays accept exactly the same values.
 * @throws InvalidQueryError or InvalidEventIdError.
 */
export function checkReplayFilter(
  filter: unknown,
  method = 'replayDeliveries',
): CheckedReplayFilter {
  const f = checkKeys(method, 'filter', filter ?? {}, REPLAY_FILTER_KEYS);
  const { eventId, consumer, ...eventFields } = f;
  const checked = checkDeadLetterFilter(eventFields, method);
  return {
    ...(eventId === undefined ? {} : { eventId: checkEventId(eventId, 'filter.eventId') }),
    ...(consumer === undefined ? {} : { consumer: checkText(method, 'filter.consumer', consumer) }),
    ...(checked.eventName === null ? {} : { eventName: checked.eventName }),
    ...(checked.aggregateType === null ? {} : { aggregateType: checked.aggregateType }),
    ...(checked.aggregateId === null ? {} : { aggregateId: checked.aggregateId }),
    ...(checked.tenantId === undefined ? {} : { tenantId: checked.tenantId }),
    allTenants: checked.tenantId === undefined,
    limit: checked.limit,
  };
}
