import { InvalidQueryError } from '../errors/invalid-query.error';
import { checkKeys, checkTenant, checkText, MAX_QUERY_LIMIT } from './outbox-query.validation';

/** Options of `IntegrationAdminService.findEventsByCorrelation`. */
export interface FindEventsByCorrelationOptions {
  /**
   * Only this tenant's events; `null`: only events without a tenant. @default the tenant of
   * the `IntegrationContext` in effect when it has one, else every tenant
   */
  readonly tenantId?: string | null;
  /** At most this many, oldest first: an integer from 1 to 2147483647. @default 1000 */
  readonly limit?: number;
}

/** Events `findEventsByCorrelation` returns when no `limit` is given. */
export const DEFAULT_CORRELATION_LIMIT = 1_000;

const KEYS = ['tenantId', 'limit'] as const satisfies ReadonlyArray<
  keyof FindEventsByCorrelationOptions
>;

/**
 * Validates the arguments of `findEventsByCorrelation`; `tenantId` is `undefined` when the
 * caller did not give one.
 */
export function checkCorrelationQuery(
  correlationId: unknown,
  options: unknown,
): { correlationId: string; tenantId: string | null | undefined; limit: number } {
  const method = 'findEventsByCorrelation';
  const o = checkKeys(method, 'options', options ?? {}, KEYS);
  const limit = o.limit ?? DEFAULT_CORRELATION_LIMIT;
  if (
    typeof limit !== 'number' ||
    !Number.isInteger(limit) ||
    limit < 1 ||
    limit > MAX_QUERY_LIMIT
  ) {
    throw new InvalidQueryError(
      method,
      'options.limit',
      `must be an integer from 1 to ${MAX_QUERY_LIMIT} (got ${String(limit)})`,
    );
  }
  return {
    correlationId: checkText(method, 'correlationId', correlationId),
    tenantId: 'tenantId' in o ? checkTenant(method, 'options.tenantId', o.tenantId) : undefined,
    limit,
  };
}
