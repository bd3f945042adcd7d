import type { ModuleRef } from '@nestjs/core';
import {
  loadSchedulerRegistryClass,
  type IntervalRegistry,
} from '../outbox/scheduler-registry.loader';

/**
 * A processor's intervals: its own `setInterval` timers, also registered in the app's
 * `SchedulerRegistry` when `@nestjs/schedule` is installed and the app imports
 * `ScheduleModule.forRoot()` (the module never does). `@nestjs/schedule` is an optional peer, so
 * the registry is looked up by class at start, never injected.
 */
export class ProcessorTimers {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private registry?: IntervalRegistry;

  constructor(private readonly moduleRef: ModuleRef) {}

  /**
   * Finds the app's registry, if any. Call before starting anything: a broken
   * `@nestjs/schedule` install throws here, with nothing running yet.
   */
  open(): void {
    const type = loadSchedulerRegistryClass();
    if (!type) return;
    try {
      this.registry = this.moduleRef.get(type, { strict: false });
    } catch {
      // Not provided: the app does not import ScheduleModule.forRoot(); the timers stay ours.
      this.registry = undefined;
    }
  }

  /** Starts an interval, visible in the app's `SchedulerRegistry` when there is one. */
  add(name: string, tick: () => void, ms: number): void {
    const timer = setInterval(tick, ms);
    this.timers.set(name, timer);
    this.registry?.addInterval(name, timer);
  }

  /** Stops every interval started here and removes it from the registry (only ours). */
  clear(): void {
    for (const [name, timer] of this.timers) {
      clearInterval(timer);
      // The app may have deleted it, or reused the name since.
      if (this.registry?.doesExist('interval', name) && this.registry.getInterval(name) === timer) {
        this.registry.deleteInterval(name);
      }
    }
    this.timers.clear();
    this.registry = undefined;
  }
}
