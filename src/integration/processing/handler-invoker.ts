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
import { AmbientTransactions } from '../context/ambient-transactions';
import { IntegrationContext, type IntegrationContextValues } from '../context/integration-context';
import { IntegrationTracing } from '../observability/tracing/integration-tracing';
import { errorMessage } from '../utils/describe';
import type { HandlerContext, RegisteredHandler } from '../subscribers/handler.types';
import { immutableEvent } from '../subscribers/immutable-event';
import type { ClaimedDelivery } from './delivery.types';
import { ACTOR_HEADER } from '../events/event-validation';

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
 * {@link HandlerContext} on the given transaction, inside the event's {@link handlerContext}
 * (and, with `context.transactional`, with `ctx.tx` as the ambient transaction). Never throws: a failure comes back as a
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
    private readonly context: IntegrationContext,
    private readonly ambient: AmbientTransactions,
    private readonly tracing: IntegrationTracing,
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
    const handled = handlerContext(delivery.event);
    const run = () => this.ambient.bind(tx, () => this.runHandlers(delivery, handlers, tx));
    if (!this.tracing.active) return this.context.run(handled, run);
    // The consumer span stays open until the settle decision (see IntegrationTracing).
    const span = this.tracing.startConsumer(delivery)!;
    const outcome = await this.context.run(handled, () => this.tracing.within(span, run));
    if (outcome.kind === 'failed') this.tracing.fail(span, outcome.error);
    return outcome;
  }

  private async runHandlers(
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
        `${event.name} ${event.id} for ${delivery.consumer} (attempt ${delivery.attempt}) not started: ${firstLine(error)}`,
      );
      logStack(logger, error);
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
          `${handler.name} failed on ${event.name} ${event.id} for ${delivery.consumer} (attempt ${delivery.attempt}): ${firstLine(error)}`,
        );
        logStack(ctx.logger, error);
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

/**
 * The context handlers run in: their event's tenant, correlation (its own id when it had none)
 * and actor, with the event as the causation of whatever they publish.
 */
export function handlerContext(event: IntegrationEvent): IntegrationContextValues {
  return {
    tenantId: event.tenantId,
    correlationId: event.correlationId ?? event.id,
    causationId: event.id,
    actor: event.headers[ACTOR_HEADER] ?? null,
  };
}

/**
 * The first non-blank line of an error's message, with its name, plus the error's `code` when
 * it has one: Prisma's messages span many lines (often starting with an empty one) and a log
 * line must stay one line.
 */
export function firstLine(error: unknown): string {
  const lines = errorMessage(error)
    .split(/\r\n|\r|\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const [first = '', second] = lines;
  // "PrismaClientKnownRequestError:" then the message on the next line: keep both.
  const line = /^[\w$.]+:$/.test(first) && second ? `${first} ${second}` : first;
  // Prisma's and PostgreSQL's codes (P2002, 23505) say what the cut-off lines would have said.
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code && !line.includes(code) ? `${line} [${code}]` : line;
}

/** The stack (or the whole message) of a handler's error, at debug level. */
function logStack(logger: Logger, error: unknown): void {
  const stack = error instanceof Error ? error.stack : undefined;
  logger.debug(stack ?? errorMessage(error));
}
