import { CrossTenantAccessError } from '../errors/cross-tenant-access.error';

/**
 * The tenant a call of the module covers, by one rule shared by every read and write API:
 *
 * 1. an explicit `tenantId` given to the call wins (`null`: only rows without a tenant);
 * 2. else the tenant of the current `IntegrationContext` (`current().tenantId`) applies;
 * 3. no tenant anywhere: `undefined`, i.e. no tenant filter (single-tenant apps, operators).
 *
 * When the context names a tenant and the call explicitly asks for another one (or for rows
 * without a tenant), the call is refused before any SQL with {@link CrossTenantAccessError}.
 *
 * @param operation the method called, for the error message.
 * @param explicit the tenant the caller gave (already validated); `undefined`: none given.
 * @param contextTenant the context's tenant; `null` or `undefined`: none.
 * @returns the tenant to filter on: a string, `null` (rows without a tenant) or `undefined`
 *   (every tenant).
 * @throws CrossTenantAccessError as described above.
 */
export function resolveTenant(
  operation: string,
  explicit: string | null | undefined,
  contextTenant: string | null | undefined,
): string | null | undefined {
  const context = contextTenant ?? undefined;
  if (explicit === undefined) return context;
  if (context !== undefined && explicit !== context)
    throw new CrossTenantAccessError(operation, context, explicit);
  return explicit;
}

/** Reads the tenant of the current call chain (`IntegrationContext.current().tenantId`). */
export type ContextTenant = () => string | null | undefined;
