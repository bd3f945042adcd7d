import { IntegrationError } from './integration.error';

/**
 * A call asked for another tenant's rows while the context of the call chain
 * (`IntegrationContext`) names a tenant: a request of tenant `contextTenant` cannot read or
 * change the rows of `requestedTenant` through the module's APIs.
 */
export class CrossTenantAccessError extends IntegrationError {
  override readonly name = 'CrossTenantAccessError';

  constructor(
    /** The method that was called. */
    readonly operation: string,
    /** The tenant of the current `IntegrationContext`. */
    readonly contextTenant: string,
    /** The tenant the call asked for (`null`: rows without a tenant). */
    readonly requestedTenant: string | null,
  ) {
    super(
      `${operation} was asked for ${requestedTenant === null ? 'rows without a tenant' : `tenant "${requestedTenant}"`} ` +
        `inside the context of tenant "${contextTenant}". Omit tenantId to use the context's tenant, ` +
        `or run the call outside that context (e.g. IntegrationContext.run({ tenantId: null }, …) ` +
        `from an operator's code path) to reach another tenant.`,
    );
  }
}
