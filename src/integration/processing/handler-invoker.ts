import { Inject, Injectable, Logger } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { HandlerTimeoutError } from '../errors/handler-timeout.error';
import type { IntegrationEvent } from '../events/integration-event';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import {
  IntegrationLinkService,
  type BoundIntegrationLinks,
} from '../links/integration-link.service';
import { errorMessage } from '../utils/describe';
import type { HandlerContext, RegisteredHandler } from '../subscribers/handler.types';
import { immutableEvent } from '../subscribers/immutable-event';
import type { ClaimedDelivery } from './delivery.types';

/** What running a consumer's handlers for one delivery ended with. */
export type HandlerOutcome =
  /** Every handler resolved. */
  | { readonly kind: 'succeeded'; readonly durationMs: number }
  /**
   * A handler threw or rejected (the later handlers did not run). `timedOut`: it ran longer
   * than `processor.handlerTimeoutMs` and may still be running, still using the transaction:
   * the caller must abandon that transaction, not roll back to a savepoint and go on.
   */
  | {
      readonly kind: 'failed';
      readonly error: unknown;
      readonly timedOut: boolean;
      readonly durationMs: number;
    };

/**
 * Runs a consumer's handlers for one delivery, one after another, each within
 * `processor.handlerTimeoutMs`, with the consumer's read-only view of the event and a
 * {@link HandlerContext} on the given transaction. Never throws: a failure comes back as a
 * {@link HandlerOutcome}, logged once as a warning.
 */
@Injectable()
export class HandlerInvoker {
  private readonly loggers = new Map<string, Logger>();
  /**
   * Each delivery's read-only view, made once however often its handlers run (passes, conflict
   * re-runs). A delivery belongs to one consumer, so views are never shared between consumers.
   */
  private readonly views = new WeakMap<ClaimedDelivery, IntegrationEvent>();

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly links: IntegrationLinkService,
  ) {}

  /**
   * Runs `handlers` (in the order given) for `delivery`.
   * @param tx the transaction handle handlers receive as `ctx.tx` (and `ctx.links` is bound
   * to); `undefined` for consumers without a transaction.
   */
  async invoke(
    delivery: ClaimedDelivery,
    handlers: readonly RegisteredHandler[],
    tx: unknown,
  ): Promise<HandlerOutcome> {
    const started = performance.now();
    const event = this.viewOf(delivery);
    const logger = this.loggerFor(delivery.consumer);
    let links: BoundIntegrationLinks;
    try {
      links = this.links.bind(tx);
    } catch (error) {
      // The transaction is no longer usable (e.g. aborted by another lane's failed statement):
      // a failure of this delivery like any statement on it, never an exception of the runner.
      logger.warn(
        `${event.name} ${event.id} (attempt ${delivery.attempt}) not started: ${errorMessage(error)}`,
      );
      return { kind: 'failed', error, timedOut: false, durationMs: performance.now() - started };
    }
    const ctx: HandlerContext = {
      tx,
      links,
      logger,
      attempt: delivery.attempt,
      consumer: delivery.consumer,
    };
    const timeoutMs = this.options.processor.handlerTimeoutMs;
    for (const handler of handlers) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(() => handler.handle(event, ctx)),
          new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new HandlerTimeoutError(handler.name, timeoutMs)),
              timeoutMs,
            );
          }),
        ]);
      } catch (error) {
        ctx.logger.warn(
          `${handler.name} failed on ${event.name} ${event.id} (attempt ${delivery.attempt}): ${errorMessage(error)}`,
        );
        return {
          kind: 'failed',
          error,
          timedOut: error instanceof HandlerTimeoutError,
          durationMs: performance.now() - started,
        };
      } finally {
        clearTimeout(timer);
      }
    }
    return { kind: 'succeeded', durationMs: performance.now() - started };
  }

  /** The logger of a consumer's lines (`Consumer <name>`), shared with its runners. */
  loggerFor(consumer: string): Logger {
    let logger = this.loggers.get(consumer);
    if (!logger) {
      logger = new Logger(`Consumer ${consumer}`);
      this.loggers.set(consumer, logger);
    }
    return logger;
  }

  private viewOf(delivery: ClaimedDelivery): IntegrationEvent {
    let view = this.views.get(delivery);
    if (!view) this.views.set(delivery, (view = immutableEvent(delivery.event)));
    return view;
  }
}
