import { Injectable, Logger } from '@nestjs/common';
import type { RetryPolicy } from '../utils/retry';
import { ConflictingConsumerError } from '../errors/conflicting-consumer.error';
import { DuplicateHandlerError } from '../errors/duplicate-handler.error';
import { InvalidEventPatternError } from '../errors/invalid-event-pattern.error';
import { InvalidHandlerError } from '../errors/invalid-handler.error';
import { compileEventPattern, isValidEventPattern } from './event-pattern';
import {
  consumerOptionProblems,
  consumerOptionsConflict,
  resolveConsumerOptions,
  sameConsumerOptions,
  sameRetryPolicy,
  type ResolvedConsumerOptions,
} from './consumer-options';
import type {
  ConsumerOptions,
  HandlerDefinition,
  HandlerOptions,
  ConsumerStart,
  RegisteredHandler,
  TransactionMode,
} from './handler.types';

/** Consumer names: a letter, then letters, digits, `.`, `_`, `:` or `-`; at most 100 characters. */
export const CONSUMER_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._:-]{0,99}$/;

/** A consumer's settings: declared once, or agreed by its handlers (defaults filled in). */
export interface ConsumerSettings {
  readonly consumer: string;
  readonly transactional: TransactionMode;
  /** Partial policy merged over the processor's; undefined when the consumer sets none. */
  readonly retry?: Partial<RetryPolicy>;
  /** Events of different ordering keys run at once in a batch transaction (1: one at a time). */
  readonly concurrency: number;
  /** Where the consumer starts the first time the cluster sees it. */
  readonly startFrom: ConsumerStart;
}

/** What the registry keeps per consumer: its settings, in this one place. */
interface ConsumerEntry {
  readonly settings: ConsumerSettings;
  /** The options set explicitly so far (all of them once declared). */
  readonly explicit: ConsumerOptions;
  /** Who declared the consumer (`@IntegrationConsumer` class or `registerConsumer`), if anyone. */
  readonly declaredBy?: string;
}

const CONSUMER_OPTION_KEYS = ['transactional', 'retry', 'concurrency', 'startFrom'] as const;

/**
 * Consumer and handler definitions: which handlers of which consumers match an event name, and
 * each consumer's settings. Filled by the explorer from `@IntegrationConsumer` /
 * `@OnIntegrationEvent` at bootstrap, or programmatically with {@link registerConsumer} and
 * {@link register}. Holds definitions only; the dispatcher runs them.
 */
@Injectable()
export class EventSubscriberRegistry {
  private readonly logger = new Logger('EventSubscriberRegistry');
  private readonly handlers = new Map<string, RegisteredHandler>();
  private readonly consumers = new Map<string, ConsumerEntry>();
  private readonly cache = new Map<string, ReadonlyMap<string, readonly RegisteredHandler[]>>();
  private order = 0;

  /**
   * Declares a consumer's settings once; its handlers are then registered with
   * {@link register} naming it (without settings of their own). Declaring a consumer again is
   * a no-op when the options are identical (same mode, same concurrency, the same retry fields
   * set to the same values) and a {@link ConflictingConsumerError} otherwise; invalid options
   * throw {@link InvalidHandlerError}. Nothing is stored when it throws.
   *
   * @param declaredBy who declares it, for errors and logs (the explorer passes the class name).
   */
  registerConsumer(
    consumer: string,
    options: ConsumerOptions = {},
    declaredBy = `registerConsumer('${String(consumer)}')`,
  ): ConsumerSettings {
    this.assertConsumerName(consumer, declaredBy);
    const problems = consumerOptionProblems(options ?? {});
    if (problems.length) throw new InvalidHandlerError(declaredBy, problems.join('; '));
    const resolved = resolveConsumerOptions(options ?? {});
    const conflict = consumerOptionsConflict(resolved);
    if (conflict) throw new InvalidHandlerError(declaredBy, `consumer "${consumer}": ${conflict}`);
    const current = this.consumers.get(consumer);
    if (current?.declaredBy !== undefined) {
      if (!sameConsumerOptions(current.settings, resolved)) {
        throw new ConflictingConsumerError(
          consumer,
          current.declaredBy,
          declaredBy,
          `${describe(current.settings)} differs from ${describe(resolved)}`,
        );
      }
      return current.settings;
    }
    // Handlers registered earlier with options of their own must agree with the declaration.
    for (const key of CONSUMER_OPTION_KEYS) {
      if (current && !sameOption(key, current.explicit[key], resolved[key])) {
        throw new ConflictingConsumerError(
          consumer,
          `its handlers' own options (${key})`,
          declaredBy,
          `${describe(current.settings)} differs from ${describe(resolved)}`,
        );
      }
    }
    const settings: ConsumerSettings = { consumer, ...resolved };
    this.consumers.set(consumer, { settings, explicit: resolved, declaredBy });
    return settings;
  }

  /**
   * Registers a handler of a consumer. Throws {@link InvalidEventPatternError},
   * {@link InvalidHandlerError} or {@link DuplicateHandlerError}; returns the registered handler
   * (pass it to {@link unregister}). Consumer options set on the definition itself merge field
   * by field with the consumer's (a field set twice must agree); prefer {@link registerConsumer}.
   */
  register<TPayload, TTx>(definition: HandlerDefinition<TPayload, TTx>): RegisteredHandler {
    const name =
      typeof definition?.name === 'string' && definition.name
        ? definition.name
        : '<anonymous handler>';
    if (!isValidEventPattern(definition?.pattern)) {
      throw new InvalidEventPatternError(String(definition?.pattern), name);
    }
    this.assertConsumerName(definition.consumer, name);
    if (typeof definition.handle !== 'function')
      throw new InvalidHandlerError(name, 'handle must be a function');
    if (name === '<anonymous handler>')
      throw new InvalidHandlerError(name, 'name must be a non-empty string');
    const priority = definition.priority ?? 0;
    if (!Number.isFinite(priority))
      throw new InvalidHandlerError(name, `priority must be a finite number (got ${priority})`);
    const problems = consumerOptionProblems(definition);
    if (problems.length) throw new InvalidHandlerError(name, problems.join('; '));

    const key = `${definition.consumer}\u0000${name}`;
    if (this.handlers.has(key)) throw new DuplicateHandlerError(definition.consumer, name);
    this.consumers.set(definition.consumer, this.mergeHandlerOptions(name, definition));

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

  private assertConsumerName(consumer: unknown, by: string): asserts consumer is string {
    if (typeof consumer !== 'string' || !CONSUMER_NAME_PATTERN.test(consumer)) {
      throw new InvalidHandlerError(
        by,
        `consumer must be a name matching ${CONSUMER_NAME_PATTERN} (got ${JSON.stringify(consumer)})`,
      );
    }
  }

  /** The consumer's entry once a handler's own options are merged in (throws on disagreement). */
  private mergeHandlerOptions(handler: string, definition: HandlerOptions): ConsumerEntry {
    const { consumer } = definition;
    const current = this.consumers.get(consumer);
    const explicit: { -readonly [K in keyof ConsumerOptions]: ConsumerOptions[K] } = {
      ...current?.explicit,
    };
    for (const key of CONSUMER_OPTION_KEYS) {
      const value = definition[key];
      if (value === undefined) continue;
      // A declared consumer's settings are all explicit, "no retry policy" included.
      const declared = current?.declaredBy !== undefined;
      const earlier = declared ? current.settings[key] : current?.explicit[key];
      const agrees = declared
        ? strictlySameOption(key, earlier, value)
        : sameOption(key, earlier, value);
      if (!agrees) throw new InvalidHandlerError(handler, disagreement(consumer, key, earlier));
      (explicit as Record<string, unknown>)[key] = value;
    }
    const resolved = resolveConsumerOptions(explicit);
    const conflict = consumerOptionsConflict(resolved);
    if (conflict) throw new InvalidHandlerError(handler, `consumer "${consumer}": ${conflict}`);
    return { settings: { consumer, ...resolved }, explicit, declaredBy: current?.declaredBy };
  }

  /** Removes a handler; returns false when it was not registered. */
  unregister(handler: Pick<HandlerDefinition, 'consumer' | 'name'>): boolean {
    const removed = this.handlers.delete(`${handler.consumer}\u0000${handler.name}`);
    if (removed) {
      this.cache.clear();
      // A declared consumer keeps its declaration; settings merged from handlers go with them.
      const entry = this.consumers.get(handler.consumer);
      if (entry?.declaredBy === undefined && !this.getConsumers().includes(handler.consumer)) {
        this.consumers.delete(handler.consumer);
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

  /**
   * The distinct event patterns of a consumer's handlers, in registration order; empty for a
   * consumer without handlers (what the consumer directory announces).
   */
  getConsumerPatterns(consumer: string): string[] {
    const patterns = [...this.handlers.values()]
      .filter((h) => h.consumer === consumer)
      .sort((a, b) => a.order - b.order)
      .map((h) => h.pattern);
    return [...new Set(patterns)];
  }

  /** Settings of a consumer (transaction mode, retry policy, concurrency). */
  getConsumerSettings(consumer: string): ConsumerSettings | undefined {
    return this.consumers.get(consumer)?.settings;
  }

  /** Number of registered handlers. */
  get count(): number {
    return this.handlers.size;
  }
}

function sameOption(
  key: (typeof CONSUMER_OPTION_KEYS)[number],
  a: ConsumerOptions[typeof key],
  b: ConsumerOptions[typeof key],
): boolean {
  if (a === undefined) return true;
  return key === 'retry'
    ? sameRetryPolicy(a as Partial<RetryPolicy>, b as Partial<RetryPolicy> | undefined)
    : a === b;
}

function strictlySameOption(
  key: (typeof CONSUMER_OPTION_KEYS)[number],
  a: ConsumerOptions[typeof key],
  b: ConsumerOptions[typeof key],
): boolean {
  return key === 'retry'
    ? sameRetryPolicy(a as Partial<RetryPolicy> | undefined, b as Partial<RetryPolicy> | undefined)
    : a === b;
}

function disagreement(
  consumer: string,
  key: (typeof CONSUMER_OPTION_KEYS)[number],
  earlier: ConsumerOptions[typeof key],
): string {
  switch (key) {
    case 'transactional':
      return (
        `consumer "${consumer}" already uses transactional: ${String(earlier)}; all handlers of a ` +
        'consumer share one mode (its delivery mark commits with all of their effects)'
      );
    case 'concurrency':
      return `consumer "${consumer}" already uses concurrency ${String(earlier)}; all handlers of a consumer share it`;
    case 'startFrom':
      return `consumer "${consumer}" already starts from ${String(earlier)}; all handlers of a consumer share it`;
    default:
      return `consumer "${consumer}" already has a different retry policy`;
  }
}

function describe(options: ResolvedConsumerOptions): string {
  const retry = options.retry ? JSON.stringify(options.retry) : "the processor's";
  return `{ transactional: ${String(options.transactional)}, concurrency: ${options.concurrency}, retry: ${retry}, startFrom: ${options.startFrom} }`;
}
