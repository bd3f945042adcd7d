import { Inject, Injectable, Logger } from '@nestjs/common';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { errorMessage } from '../utils/describe';
import type { IntegrationLifecycleEvent, IntegrationLifecycleObserver } from './lifecycle-events';

/**
 * Where the delivery pipeline's lifecycle events go: the observers of the module option
 * `observers` plus any added with {@link subscribe}. One instance per module (nothing global).
 * An observer that throws is logged once per event type and keeps receiving events: the
 * pipeline never fails because of one.
 */
@Injectable()
export class IntegrationLifecycle {
  private readonly logger = new Logger('IntegrationLifecycle');
  private readonly observers = new Set<IntegrationLifecycleObserver>();
  /** `observer index:event type` pairs already logged as failing. */
  private readonly reported = new Set<string>();

  constructor(@Inject(INTEGRATION_OPTIONS) options: ResolvedIntegrationOptions) {
    for (const observer of options.observers) this.observers.add(observer);
  }

  /** Adds an observer; returns the function that removes it. */
  subscribe(observer: IntegrationLifecycleObserver): () => void {
    this.observers.add(observer);
    return () => {
      this.observers.delete(observer);
    };
  }

  /** True when anyone listens (the pipeline skips building events nobody reads). */
  get observed(): boolean {
    return this.observers.size > 0;
  }

  /** Hands `event` to every observer, synchronously, in subscription order. */
  emit(event: IntegrationLifecycleEvent): void {
    let index = 0;
    for (const observer of this.observers) {
      try {
        observer.onEvent(event);
      } catch (error) {
        const key = `${index}:${event.type}`;
        if (!this.reported.has(key)) {
          this.reported.add(key);
          this.logger.error(
            `Lifecycle observer #${index + 1} failed on ${event.type} (logged once; it keeps receiving events): ${errorMessage(error)}`,
          );
        }
      }
      index++;
    }
  }
}
