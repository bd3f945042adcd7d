import { Injectable, Logger } from '@nestjs/common';
import { resolveRetryPolicy, validateRetryPolicy, type RetryPolicy } from '../utils/retry';
import { DuplicateHandlerError } from '../errors/duplicate-handler.error';
import { InvalidEventPatternError } from '../errors/invalid-event-pattern.error';
import { InvalidHandlerError } from '../errors/invalid-handler.error';
import { compileEventPattern, isValidEventPattern } from './event-pattern';
import {
  MAX_CONSUMER_CONCURRENCY,
  type HandlerDefinition,
  type HandlerOptions,
  type RegisteredHandler,
  type TransactionMode,
} from './handler.types';

/** Consumer names: a letter, then letters, digits, `.`, `_`, `:` or `-`; at most 100 characters. */
export const CONSUMER_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._:-]{0,99}$/;

/** A consumer's settings, agreed by all of its handlers. */
export interface ConsumerSettings {
  readonly consumer: string;
  readonly transactional: TransactionMode;
  /** True once a handler set `transactional` explicitly (then all explicit ones must agree). */
  readonly explicitMode: boolean;
  /** Partial policy merged over the processor's; undefined when no handler sets one. */
  readonly retry?: Partial<RetryPolicy>;
  /** Events of different ordering keys run at once in a batch transaction (1: one at a time). */
  readonly concurrency: number;
}

/**
 * Handler definitions: which handlers of which consumers match an event name. Filled by the
 * explorer from `@OnIntegrationEvent` at bootstrap, or programmatically with {@link register}.
 * Holds definitions only; the dispatcher runs them.
 */
@Injectable()
export class EventSubscriberRegistry {
  private readonly logger = new Logger('EventSubscriberRegistry');
  private readonly handlers = new Map<string, RegisteredHandler>();
  private readonly settings = new Map<string, ConsumerSettings>();
  /** Consumers whose concurrency a handler set explicitly (then all explicit ones must agree). */
  private readonly explicitConcurrency = new Set<string>();
  private readonly cache = new Map<string, ReadonlyMap<string, readonly RegisteredHandler[]>>();
  private order = 0;

  /**
   * Registers a handler. Throws {@link InvalidEventPatternError}, {@link InvalidHandlerError} or
   * {@link DuplicateHandlerError}; returns the registered handler (pass it to {@link unregister}).
   */
  register<TPayload, TTx>(definition: HandlerDefinition<TPayload, TTx>): RegisteredHandler {
    const name =
      typeof definition?.name === 'string' && definition.name
        ? definition.name
        : '<anonymous handler>';
    if (!isValidEventPattern(definition?.pattern)) {
      throw new InvalidEventPatternError(String(definition?.pattern), name);
    }
    if (
      typeof definition.consumer !== 'string' ||
      !CONSUMER_NAME_PATTERN.test(definition.consumer)
    ) {
      throw new InvalidHandlerError(
        name,
        `consumer must be a name matching ${CONSUMER_NAME_PATTERN} (got ${JSON.stringify(definition.consumer)})`,
      );
    }
    if (typeof definition.handle !== 'function')
      throw new InvalidHandlerError(name, 'handle must be a function');
    if (name === '<anonymous handler>')
      throw new InvalidHandlerError(name, 'name must be a non-empty string');
    const priority = definition.priority ?? 0;
    if (!Number.isFinite(priority))
      throw new InvalidHandlerError(name, `priority must be a finite number (got ${priority})`);
    const transactional = definition.transactional ?? 'batch';
    if (transactional !== 'batch' && transactional !== 'per-event' && transactional !== false) {
      throw new InvalidHandlerError(
        name,
        `transactional must be 'batch', 'per-event' or false (got ${String(transactional)})`,
      );
    }
    const retryProblems = definition.retry ? validateRetryPolicy(definition.retry, 'retry') : [];
    if (retryProblems.length) throw new InvalidHandlerError(name, retryProblems.join('; '));
    const concurrency = definition.concurrency;
    if (
      concurrency !== undefined &&
      !(
        Number.isInteger(concurrency) &&
        concurrency >= 1 &&
        concurrency <= MAX_CONSUMER_CONCURRENCY
      )
    ) {
      throw new InvalidHandlerError(
        name,
        `concurrency must be an integer from 1 to ${MAX_CONSUMER_CONCURRENCY} (got ${String(concurrency)})`,
      );
    }

    const key = `${definition.consumer}\u0000${name}`;
    if (this.handlers.has(key)) throw new DuplicateHandlerError(definition.consumer, name);
    this.mergeSettings(definition.consumer, name, definition);

    const registered: RegisteredHandler = {
      ...(definition as HandlerDefinition),
      name,
      priority,
      order: this.order++,
      matches: compileEventPattern(definition.pattern),
    };
    this.handlers.set(key, registered);
    this.cache.clear();
    this.logger.log(
      `Registered ${name} for "${definition.pattern}" (consumer ${definition.consumer})`,
    );
    return registered;
  }

  private mergeSettings(
    consumer: string,
    handler: string,
    { transactional, retry, concurrency }: HandlerOptions,
  ): void {
    const current = this.settings.get(consumer);
    const explicitMode = transactional !== undefined;
    if (
      concurrency !== undefined &&
      this.explicitConcurrency.has(consumer) &&
      current?.concurrency !== concurrency
    ) {
      throw new InvalidHandlerError(
        handler,
        `consumer "${consumer}" already uses concurrency ${current?.concurrency}; all handlers of a consumer share it`,
      );
    }
    const next: ConsumerSettings = current
      ? {
          consumer,
          transactional: explicitMode ? transactional : current.transactional,
          explicitMode: current.explicitMode || explicitMode,
          retry: current.retry ?? retry,
          concurrency: concurrency ?? current.concurrency,
        }
      : {
          consumer,
          transactional: transactional ?? 'batch',
          explicitMode,
          retry,
          concurrency: concurrency ?? 1,
        };
    if (current) {
      if (explicitMode && current.explicitMode && transactional !== current.transactional) {
        throw new InvalidHandlerError(
          handler,
          `consumer "${consumer}" already uses transactional: ${String(current.transactional)}; all handlers of a ` +
            'consumer share one mode (its inbox mark commits with all of their effects)',
        );
      }
      if (
        retry &&
        current.retry &&
        JSON.stringify(resolveRetryPolicy(retry)) !==
          JSON.stringify(resolveRetryPolicy(current.retry))
      ) {
        throw new InvalidHandlerError(
          handler,
          `consumer "${consumer}" already has a different retry policy`,
        );
      }
    }
    if (next.concurrency > 1 && next.transactional !== 'batch') {
      throw new InvalidHandlerError(
        handler,
        `consumer "${consumer}": concurrency ${next.concurrency} needs transactional: 'batch' ` +
          `(it runs events side by side inside one batch transaction; got ${String(next.transactional)})`,
      );
    }
    if (concurrency !== undefined) this.explicitConcurrency.add(consumer);
    this.settings.set(consumer, next);
  }

  /** Removes a handler; returns false when it was not registered. */
  unregister(handler: Pick<HandlerDefinition, 'consumer' | 'name'>): boolean {
    const removed = this.handlers.delete(`${handler.consumer}\u0000${handler.name}`);
    if (removed) {
      this.cache.clear();
      if (!this.getConsumers().includes(handler.consumer)) {
        this.settings.delete(handler.consumer);
        this.explicitConcurrency.delete(handler.consumer);
      }
    }
    return removed;
  }

  /** Handlers matching `eventName`, grouped by consumer, each group by priority then registration order. */
  getHandlersByConsumer(eventName: string): ReadonlyMap<string, readonly RegisteredHandler[]> {
    const cached = this.cache.get(eventName);
    if (cached) return cached;
    const byConsumer = new Map<string, RegisteredHandler[]>();
    // Consumers in first-registration order; within one, by priority then registration order.
    const matching = [...this.handlers.values()]
      .filter((h) => h.matches(eventName))
      .sort((a, b) => a.order - b.order);
    for (const h of matching)
      byConsumer.set(h.consumer, [...(byConsumer.get(h.consumer) ?? []), h]);
    for (const list of byConsumer.values())
      list.sort((a, b) => b.priority - a.priority || a.order - b.order);
    this.cache.set(eventName, byConsumer);
    return byConsumer;
  }

  /** Every handler matching `eventName` (consumers in first-registration order). */
  getHandlers(eventName: string): RegisteredHandler[] {
    return [...this.getHandlersByConsumer(eventName).values()].flat();
  }

  hasHandlers(eventName: string): boolean {
    return this.getHandlersByConsumer(eventName).size > 0;
  }

  /** The distinct patterns handlers are registered for. */
  getEventNames(): string[] {
    return [...new Set([...this.handlers.values()].map((h) => h.pattern))];
  }

  /** The distinct consumer names. */
  getConsumers(): string[] {
    return [...new Set([...this.handlers.values()].map((h) => h.consumer))];
  }

  /** Settings of a consumer (transaction mode, retry policy). */
  getConsumerSettings(consumer: string): ConsumerSettings | undefined {
    return this.settings.get(consumer);
  }

  /** Number of registered handlers. */
  get count(): number {
    return this.handlers.size;
  }
}
