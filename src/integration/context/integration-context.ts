import { Inject, Injectable } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { loadClsService, NESTJS_CLS_PACKAGE, type ClsServiceLike } from './cls-peers';
import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';

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
 * The nestjs-cls key under which the module keeps its {@link IntegrationContextValues} when
 * `context.cls` is on: set it in your own `ClsModule` setup (or use `integrationClsSetup`).
 * No dot in it: nestjs-cls reads a dotted key as a path into a nested object, which a nested
 * context would share with its parent.
 */
export const INTEGRATION_CONTEXT_CLS_KEY = 'nestjs-integration:context';

/** Where the values live: the module's own AsyncLocalStorage, or nestjs-cls. */
interface ContextStore {
  get(): IntegrationContextValues | undefined;
  run<R>(values: IntegrationContextValues, fn: () => R): R;
}

/**
 * The module's context of the current async call chain: {@link run} sets values for everything
 * `fn` calls (merged over the values already in effect), {@link current} reads them. Handlers
 * run inside it with their event's tenant and correlation and the event itself as causation,
 * so whatever they publish is correlated. Without `context.cls` one `AsyncLocalStorage` per
 * module instance (two apps in one process never see each other's); with it, nestjs-cls's
 * `ClsService` under {@link INTEGRATION_CONTEXT_CLS_KEY}, shared with the app's CLS.
 *
 * ```ts
 * await context.run({ tenantId: 'acme', correlationId: req.headers['x-correlation-id'] }, () =>
 *   service.handle(request),
 * );
 * ```
 */
@Injectable()
export class IntegrationContext {
  private readonly store: ContextStore;

  constructor(@Inject(INTEGRATION_OPTIONS) options: Pick<ResolvedIntegrationOptions, 'context'>) {
    this.store = options.context.cls ? clsStore(requireClsService()) : localStore();
  }

  /** Runs `fn` with `values` over the values already in effect (`undefined` keeps a value). */
  run<R>(values: IntegrationContextValues, fn: () => R): R {
    return this.store.run(mergeValues(this.store.get(), values), fn);
  }

  /** The values in effect for the current call chain (an empty object outside any). */
  current(): IntegrationContextValues {
    return this.store.get() ?? {};
  }
}

/** `outer` with the defined entries of `values` over it. */
export function mergeValues(
  outer: IntegrationContextValues | undefined,
  values: IntegrationContextValues,
): IntegrationContextValues {
  const merged: Record<string, string | null> = { ...outer };
  for (const [key, value] of Object.entries(values) as [string, string | null | undefined][]) {
    if (value !== undefined) merged[key] = value;
  }
  return merged;
}

function localStore(): ContextStore {
  const storage = new AsyncLocalStorage<IntegrationContextValues>();
  return { get: () => storage.getStore(), run: (values, fn) => storage.run(values, fn) };
}

function clsStore(cls: ClsServiceLike): ContextStore {
  return {
    get: () =>
      cls.isActive()
        ? (cls.get(INTEGRATION_CONTEXT_CLS_KEY) as IntegrationContextValues | undefined)
        : undefined,
    // A child of the current CLS context (a copy of its store): nothing leaks to the caller.
    run: (values, fn) =>
      cls.run({ ifNested: 'inherit' }, () => {
        cls.set(INTEGRATION_CONTEXT_CLS_KEY, values);
        return fn();
      }),
  };
}

/** nestjs-cls's `ClsService`, loaded at start-up; a clear error when it is not installed. */
export function requireClsService(): ClsServiceLike {
  const cls = loadClsService();
  if (!cls) {
    throw new InvalidIntegrationOptionsError([
      `context.cls (or context.transactional) needs the optional peer ${NESTJS_CLS_PACKAGE}: npm install ${NESTJS_CLS_PACKAGE}, and import ClsModule.forRoot({ global: true, middleware: { mount: true } }) in your app; or remove context.cls`,
    ]);
  }
  return cls;
}
