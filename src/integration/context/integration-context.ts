import { Injectable } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What the module takes from the context of the current call chain when a caller does not say
 * it explicitly: the tenant every read and write is limited to, and the correlation, causation
 * and actor given to events published there.
 */
export interface IntegrationContextValues {
  /** The tenant of the current request or handled event; `null` means "no tenant". */
  readonly tenantId?: string | null;
  /** Correlation id of the current request or handled event. */
  readonly correlationId?: string | null;
  /** Id of the event being handled: the cause of events published while handling it. */
  readonly causationId?: string | null;
  /** Who acts (a user id, a service name), for event headers and the audit table. */
  readonly actor?: string | null;
}

/**
 * The module's context of the current async call chain: {@link run} sets values for everything
 * `fn` calls (merged over the values already in effect), {@link current} reads them. One
 * `AsyncLocalStorage` per module instance, so two apps in one process never see each other's.
 *
 * ```ts
 * await context.run({ tenantId: 'acme', correlationId: req.headers['x-correlation-id'] }, () =>
 *   service.handle(request),
 * );
 * ```
 */
@Injectable()
export class IntegrationContext {
  private readonly storage = new AsyncLocalStorage<IntegrationContextValues>();

  /** Runs `fn` with `values` over the values already in effect (`undefined` keeps a value). */
  run<R>(values: IntegrationContextValues, fn: () => R): R {
    const outer = this.storage.getStore();
    const merged: IntegrationContextValues = { ...outer };
    for (const [key, value] of Object.entries(values) as [
      keyof IntegrationContextValues,
      string | null | undefined,
    ][]) {
      if (value !== undefined) (merged as Record<string, string | null>)[key] = value;
    }
    return this.storage.run(merged, fn);
  }

  /** The values in effect for the current call chain (an empty object outside any). */
  current(): IntegrationContextValues {
    return this.storage.getStore() ?? {};
  }
}
