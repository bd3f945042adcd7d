import { Injectable } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';

/** The event whose handlers are running, as seen by code they call. */
export interface HandledEventScope {
  readonly eventId: string;
  readonly correlationId: string | null;
}

/**
 * Which event's handlers the current async call chain runs for: `HandlerInvoker` runs every
 * consumer's handlers inside {@link run}, and the publisher reads {@link current} to give the
 * events those handlers publish their causation and correlation ids. One instance (and one
 * `AsyncLocalStorage`) per module instance: two apps in one process never see each other's.
 */
@Injectable()
export class HandlerScope {
  private readonly storage = new AsyncLocalStorage<HandledEventScope>();

  /** Runs `fn` with `scope` as the handled event of everything it calls. */
  run<R>(scope: HandledEventScope, fn: () => R): R {
    return this.storage.run(scope, fn);
  }

  /** The handled event of the current call chain, or undefined outside any handler. */
  current(): HandledEventScope | undefined {
    return this.storage.getStore();
  }
}
