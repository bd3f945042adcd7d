import { DeliveryStatus } from '../processing/delivery.types';
import type { CheckedDeliveryFilter, CheckedEventFilter } from './admin-filter.validation';

/**
 * Each status as an SQL literal, from this constant table only: the status goes into the text
 * (not a parameter) so that a generic plan of a prepared statement still matches the partial
 * index of that status.
 */
const STATUS_LITERALS: Readonly<Record<DeliveryStatus, string>> = {
  [DeliveryStatus.Pending]: "'pending'",
  [DeliveryStatus.Processing]: "'processing'",
  [DeliveryStatus.Processed]: "'processed'",
  [DeliveryStatus.DeadLetter]: "'dead_letter'",
  [DeliveryStatus.Skipped]: "'skipped'",
};

/**
 * The parameters of one admin statement, numbered as they are added. Admin statements are
 * assembled per call from constant fragments, one per filter field given: SQL text never
 * contains input, and each combination of fields gets a plan that uses its index (a catch-all
 * `($1 IS NULL OR column = $1)` statement can be planned once, generically, by drivers that
 * prepare statements, and then scans).
 */
export class SqlParams {
  /** The values, in placeholder order. */
  readonly values: unknown[] = [];

  /** Adds `value`; returns its placeholder with the cast, e.g. `$3::text`. */
  add(value: unknown, cast: string): string {
    this.values.push(value);
    return `$${this.values.length}::${cast}`;
  }
}

/** A timestamp column as text in UTC with microseconds: exact in cursors, whatever the session's settings. */
export const utcText = (column: string): string =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Milliseconds since the epoch of a timestamp column, as every driver returns it (float8). */
export const epochMs = (column: string, alias: string): string =>
  `(extract(epoch from ${column}) * 1000)::float8 AS ${alias}`;

/**
 * The condition on a `tenant_id` column: that tenant's rows, rows without a tenant (`null`), or
 * none (`undefined`: every tenant).
 */
export function tenantConditions(
  column: string,
  tenantId: string | null | undefined,
  params: SqlParams,
): string[] {
  if (tenantId === undefined) return [];
  return [tenantId === null ? `${column} IS NULL` : `${column} = ${params.add(tenantId, 'text')}`];
}

/**
 * The conditions of an event filter on the outbox row aliased `e`, with its time bounds on
 * `timeColumn` (`e.created_at` for events, `d.updated_at` for deliveries).
 */
export function eventConditions(
  filter: CheckedEventFilter,
  params: SqlParams,
  timeColumn: string,
): string[] {
  const conditions: string[] = [];
  if (filter.eventName !== undefined)
    conditions.push(`e.event_name = ${params.add(filter.eventName, 'text')}`);
  if (filter.aggregateType !== undefined)
    conditions.push(`e.aggregate_type = ${params.add(filter.aggregateType, 'text')}`);
  if (filter.aggregateId !== undefined)
    conditions.push(`e.aggregate_id = ${params.add(filter.aggregateId, 'text')}`);
  conditions.push(...tenantConditions('e.tenant_id', filter.tenantId, params));
  if (filter.correlationId !== undefined)
    conditions.push(`e.correlation_id = ${params.add(filter.correlationId, 'text')}`);
  if (filter.from)
    conditions.push(`${timeColumn} >= ${params.add(filter.from.toISOString(), 'timestamptz')}`);
  if (filter.to)
    conditions.push(`${timeColumn} < ${params.add(filter.to.toISOString(), 'timestamptz')}`);
  return conditions;
}

/** True when the filter names a field of the event (the delivery must be joined to it). */
export function needsEvent(filter: CheckedEventFilter): boolean {
  return (
    filter.eventName !== undefined ||
    filter.aggregateType !== undefined ||
    filter.aggregateId !== undefined ||
    filter.tenantId !== undefined ||
    filter.correlationId !== undefined
  );
}

/**
 * The conditions of a delivery filter on the delivery aliased `d` and its event `e`: status,
 * consumer, the event's fields, and time bounds on the delivery's `updated_at`.
 */
export function deliveryConditions(filter: CheckedDeliveryFilter, params: SqlParams): string[] {
  return [
    `d.status = ${STATUS_LITERALS[filter.status]}`,
    ...(filter.consumer === undefined
      ? []
      : [`d.consumer_name = ${params.add(filter.consumer, 'text')}`]),
    ...eventConditions(filter, params, 'd.updated_at'),
  ];
}

/** `WHERE a AND b …`, or nothing. */
export const where = (conditions: readonly string[]): string =>
  conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
