import type { Type } from '@nestjs/common';

/** Package that provides `SchedulerRegistry`; an optional peer dependency. */
export const SCHEDULE_PACKAGE = '@nestjs/schedule';

/**
 * The part of `@nestjs/schedule`'s `SchedulerRegistry` the processor uses: its intervals are
 * registered there when the app imports `ScheduleModule.forRoot()`.
 */
export interface IntervalRegistry {
  addInterval(name: string, intervalId: unknown): void;
  doesExist(type: 'interval', name: string): boolean;
  getInterval(name: string): unknown;
  deleteInterval(name: string): void;
}

/** Loads a module by name, like `require`. */
export type ModuleLoader = (id: string) => unknown;

/**
 * The `SchedulerRegistry` class of `@nestjs/schedule`, or `undefined` when that optional peer is
 * not installed. Called at start-up, never at import: importing the package must not need it.
 * Any other failure to load it (a broken install, a missing dependency of its own) is thrown.
 *
 * @param load - how to load the package; replaceable in tests. @default require
 */
export function loadSchedulerRegistryClass(
  load: ModuleLoader = require,
): Type<IntervalRegistry> | undefined {
  let loaded: unknown;
  try {
    loaded = load(SCHEDULE_PACKAGE);
  } catch (error) {
    if (isMissing(error, SCHEDULE_PACKAGE)) return undefined;
    throw error;
  }
  const registry = (loaded as { SchedulerRegistry?: unknown } | undefined)?.SchedulerRegistry;
  return typeof registry === 'function' ? (registry as Type<IntervalRegistry>) : undefined;
}

function isMissing(error: unknown, id: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // Only the package itself: a dependency of it that is missing is a broken install, not absence.
  return code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${id}'`);
}
