import type { ModuleLoader } from '../outbox/scheduler-registry.loader';

/** Package of the CLS the module can keep its context in; an optional peer dependency. */
export const NESTJS_CLS_PACKAGE = 'nestjs-cls';
/** Package of the `@Transactional()` transactions `publish(event)` joins; an optional peer. */
export const NESTJS_CLS_TRANSACTIONAL_PACKAGE = '@nestjs-cls/transactional';

// What follows mirrors the few members of those packages this module calls, so its types never
// reference an optional peer (a user without them still compiles).

/** The members of nestjs-cls's `ClsService` the module calls. */
export interface ClsServiceLike {
  isActive(): boolean;
  get(key: string | symbol): unknown;
  set(key: string | symbol, value: unknown): void;
  run<T>(options: { ifNested: 'inherit' }, callback: () => T): T;
}

/** The members of `@nestjs-cls/transactional`'s `TransactionHost` the module calls. */
export interface TransactionHostLike {
  readonly tx: unknown;
  isTransactionActive(): boolean;
}

/** `ClsServiceManager.getClsService()` of nestjs-cls, or `undefined` when it is not installed. */
export function loadClsService(load: ModuleLoader = require): ClsServiceLike | undefined {
  const loaded = loadOptional(load, NESTJS_CLS_PACKAGE) as
    { ClsServiceManager?: { getClsService?: () => ClsServiceLike } } | undefined;
  const getClsService = loaded?.ClsServiceManager?.getClsService;
  return typeof getClsService === 'function'
    ? getClsService.call(loaded!.ClsServiceManager)
    : undefined;
}

/**
 * `TransactionHost.getInstance` of `@nestjs-cls/transactional` (the host of one connection,
 * registered by `ClsPluginTransactional`), or `undefined` when that package is not installed.
 */
export function loadTransactionHostLookup(
  load: ModuleLoader = require,
): ((connectionName?: string) => TransactionHostLike) | undefined {
  const loaded = loadOptional(load, NESTJS_CLS_TRANSACTIONAL_PACKAGE) as
    { TransactionHost?: { getInstance?: (name?: string) => TransactionHostLike } } | undefined;
  const host = loaded?.TransactionHost;
  return host && typeof host.getInstance === 'function'
    ? (name) => host.getInstance!(name)
    : undefined;
}

/** The package, or `undefined` when it is not installed; any other failure to load it is thrown. */
function loadOptional(load: ModuleLoader, id: string): unknown {
  try {
    return load(id);
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    // Only the package itself: a dependency of it that is missing is a broken install.
    if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${id}'`))
      return undefined;
    throw error;
  }
}
