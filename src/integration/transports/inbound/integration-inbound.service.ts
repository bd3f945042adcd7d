import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import type { IntegrationEvent } from '../../events/integration-event';
import { InboxService } from '../../inbox/inbox.service';
import type { ClaimedDelivery, SettleDecision } from '../../processing/delivery.types';
import { IntegrationTracing } from '../../observability/tracing/integration-tracing';
import { firstLine, HandlerInvoker } from '../../processing/handler-invoker';
import { EventSubscriberRegistry } from '../../subscribers/event-subscriber.registry';
import type { RegisteredHandler } from '../../subscribers/handler.types';
import { errorMessage } from '../../utils/describe';
import {
  computeBackoffDelay,
  JitterMode,
  resolveRetryPolicy,
  type RetryPolicy,
} from '../../utils/retry';
import type { IncomingMessage, TransportSubscription } from '../integration-transport';
import { toIntegrationEvent } from '../transport-message';
import { INTEGRATION_INBOUND_OPTIONS } from './integration-inbound.module-definition';
import {
  DEFAULT_INBOUND_CONCURRENCY,
  inboundOptionProblems,
  type IntegrationInboundOptions,
} from './inbound.options';
import { OrderingKeyScheduler } from './ordering-key.scheduler';

/** Where an inbound subscription stands. */
export enum InboundState {
  Idle = 'idle',
  Running = 'running',
  Stopping = 'stopping',
  Stopped = 'stopped',
}

/** Deliveries and backoff of failing inbound messages unless `retry` says otherwise. */
export const DEFAULT_INBOUND_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 5,
  baseDelayMs: 1_000,
  maxDelayMs: 60_000,
  jitter: JitterMode.Full,
});

/** A message taken on: decoded, waiting in its key's lane or being handled. */
interface InboundEntry {
  readonly message: IncomingMessage;
  readonly event: IntegrationEvent;
  /** Resolves `handle`'s promise once the message is settled. */
  readonly settled: () => void;
}

type HandledDelivery = ClaimedDelivery & { handlers: readonly RegisteredHandler[] };

/**
 * Takes broker messages in: for each message, for each configured consumer with handlers for
 * its event name, runs those handlers through `InboxService.runOnce` keyed by (message id,
 * consumer) — the message id being the event id (`integration-event-id`, which a replay under
 * a new broker id keeps) — so their effects and the inbox mark commit together and a
 * redelivered message changes nothing twice. The message is acknowledged only after every
 * consumer's transaction committed.
 *
 * Up to `concurrency` messages are handled at once, but messages of one ordering key run one
 * after another in arrival order (a lane per key). A failed message stays in hand and holds
 * its key: it runs again after `computeBackoffDelay(retry, attempt)` while other keys go on,
 * and after `retry.maxAttempts` attempts (broker deliveries included) it moves to the
 * dead-letter destination with its headers and the error. Handlers are the same
 * `@OnIntegrationEvent` methods as for outbox events, with the same `ctx` (`ctx.tx` is always
 * a transaction here, whatever the consumer's `transactional` mode, since the inbox mark needs
 * one).
 */
@Injectable()
export class IntegrationInbound
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('IntegrationInbound');
  private readonly retry: RetryPolicy;
  private readonly lanes: OrderingKeyScheduler<InboundEntry>;
  /** Backoff waits in progress, ended early when the module stops. */
  private readonly pauses = new Set<() => void>();
  /** Settles of messages that are not integration events (outside the lanes). */
  private readonly strays = new Set<Promise<void>>();
  private subscription?: TransportSubscription;
  private current: InboundState = InboundState.Idle;

  constructor(
    @Inject(INTEGRATION_INBOUND_OPTIONS) private readonly options: IntegrationInboundOptions,
    private readonly registry: EventSubscriberRegistry,
    private readonly inbox: InboxService,
    private readonly invoker: HandlerInvoker,
    private readonly tracing: IntegrationTracing,
  ) {
    this.retry = resolveRetryPolicy(options?.retry, DEFAULT_INBOUND_RETRY);
    this.lanes = new OrderingKeyScheduler(
      options?.concurrency ?? DEFAULT_INBOUND_CONCURRENCY,
      (entry) => this.process(entry),
    );
  }

  /** Where the subscription stands. */
  get state(): InboundState {
    return this.current;
  }

  /** Messages in hand: being handled, waiting for their key, or waiting to be retried. */
  get inHand(): number {
    return this.lanes.size;
  }

  async onModuleInit(): Promise<void> {
    const problems = inboundOptionProblems(this.options);
    if (problems.length)
      throw new InvalidTransportOptionsError('IntegrationInboundModule', problems);
    await this.options.transport.connect();
  }

  async onApplicationBootstrap(): Promise<void> {
    // Consumers are registered at module init (explorer, registerConsumer): all known by now.
    const unknown = this.options.consumers.filter((c) => !this.registry.getConsumerSettings(c));
    if (unknown.length) {
      throw new InvalidTransportOptionsError('IntegrationInboundModule', [
        `consumers ${unknown.map((c) => `"${c}"`).join(', ')} are not registered: declare them with @IntegrationConsumer(name) on a provider of this app (or EventSubscriberRegistry.registerConsumer) — known: ${this.registry.getConsumers().join(', ') || 'none'}`,
      ]);
    }
    // The transport awaits this callback before the next message: it returns as soon as the
    // message is in its lane, so messages of other keys can run meanwhile.
    this.subscription = await this.options.transport.subscribe!(async (message) => {
      void this.handle(message);
    });
    this.current = InboundState.Running;
    this.logger.log(
      `Taking messages from ${this.options.transport.name} into ${this.options.consumers.join(', ')} (${this.options.concurrency ?? DEFAULT_INBOUND_CONCURRENCY} at once)`,
    );
  }

  /**
   * Takes one message on (what the subscription calls) and resolves once it is settled; never
   * throws. It waits behind the messages of its ordering key already in hand, then is settled
   * with `ack` or `deadLetter` (after retries in place), or given back with `retry(0)` when
   * the module stops first. A settle that fails is logged (the broker then redelivers the
   * message, and the inbox keeps that harmless).
   */
  handle(message: IncomingMessage): Promise<void> {
    let event: IntegrationEvent;
    try {
      event = toIntegrationEvent(message);
    } catch (error) {
      this.logger.warn(`${firstLine(error)}: dead-lettering it`);
      const settling = this.settle(message, () => message.deadLetter(errorMessage(error)));
      this.strays.add(settling);
      void settling.finally(() => this.strays.delete(settling));
      return settling;
    }
    return new Promise<void>((settled) =>
      this.lanes.push(event.orderingKey, { message, event, settled }),
    );
  }

  /** Runs one message of a lane until it is settled (or given back, when stopping). */
  private async process(entry: InboundEntry): Promise<void> {
    const { message, event } = entry;
    try {
      let attempt = message.deliveryCount;
      for (;;) {
        if (this.stopping) {
          // Given back in lane order: the broker redelivers this key's messages in order.
          await this.settle(message, () => message.retry(0));
          return;
        }
        const failure = await this.attempt(event, message, attempt);
        if (!failure) return;
        const { error, failing, committed } = failure;
        const reason = errorMessage(error);
        if (attempt >= this.retry.maxAttempts) {
          this.logger.warn(
            `${event.name} ${event.id} failed attempt ${attempt} of ${this.retry.maxAttempts}: dead-lettering it (${firstLine(error)})`,
          );
          await this.settle(message, () => message.deadLetter(reason, attempt));
          this.endSpans(committed, { action: 'processed' });
          if (failing) this.tracing.settled(failing, { action: 'dead-letter', error: reason });
          return;
        }
        // Retried in place: the message stays unacknowledged and its key waits for it, so no
        // later message of the key can overtake it, whatever the broker's window.
        const delayMs = computeBackoffDelay(this.retry, attempt);
        this.endSpans(committed, { action: 'processed' });
        if (failing) this.tracing.settled(failing, { action: 'retry', delayMs, error: reason });
        await this.pause(delayMs);
        attempt++;
      }
    } finally {
      entry.settled();
    }
  }

  private get stopping(): boolean {
    return this.current === InboundState.Stopping || this.current === InboundState.Stopped;
  }

  /**
   * One attempt of every consumer's handlers; acknowledges the message when all committed.
   * Resolves with the failure otherwise (the consumers that committed, the failing one).
   */
  private async attempt(
    event: IntegrationEvent,
    message: IncomingMessage,
    attempt: number,
  ): Promise<
    { error: unknown; failing?: ClaimedDelivery; committed: ClaimedDelivery[] } | undefined
  > {
    // Each consumer's CONSUMER span (opened by the invoker) ends with the attempt's outcome:
    // the consumers whose transaction committed as processed, the failing one with the decision.
    const committed: ClaimedDelivery[] = [];
    let failing: ClaimedDelivery | undefined;
    try {
      for (const consumer of this.options.consumers) {
        const delivery = this.deliveryFor(event, consumer, attempt);
        if (!delivery) continue;
        failing = delivery;
        await this.deliver(delivery);
        committed.push(delivery);
        failing = undefined;
      }
    } catch (error) {
      return { error, failing, committed };
    }
    await this.settle(message, () => message.ack());
    this.endSpans(committed, { action: 'processed' });
    return undefined;
  }

  /** Waits `delayMs`, or less when the module stops. */
  private pause(delayMs: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.pauses.delete(done);
        resolve();
      };
      const timer = setTimeout(done, delayMs);
      this.pauses.add(done);
    });
  }

  private endSpans(deliveries: readonly ClaimedDelivery[], decision: SettleDecision): void {
    for (const delivery of deliveries) this.tracing.settled(delivery, decision);
  }

  /** The delivery of `event` to `consumer`, or undefined when it has no handler for it. */
  private deliveryFor(
    event: IntegrationEvent,
    consumer: string,
    attempt: number,
  ): HandledDelivery | undefined {
    const handlers = this.registry.getHandlersByConsumer(event.name).get(consumer);
    if (!handlers?.length) return undefined;
    return {
      eventId: event.id,
      consumer,
      position: event.seq,
      orderingKey: event.orderingKey,
      attempt,
      leaseExpired: false,
      lastError: null,
      event,
      handlers,
    };
  }

  private async deliver(delivery: HandledDelivery): Promise<void> {
    const { event, consumer, handlers } = delivery;
    await this.inbox.runOnce(
      { eventId: event.id, consumer, tenantId: event.tenantId },
      async (tx) => {
        const outcome = await this.invoker.invoke(delivery, handlers, tx);
        if (outcome.kind === 'failed') throw outcome.error;
      },
    );
  }

  private async settle(message: IncomingMessage, settle: () => Promise<void>): Promise<void> {
    try {
      await settle();
    } catch (error) {
      this.logger.warn(
        `Could not settle message ${message.id} on ${message.subject} (the broker will redeliver it): ${firstLine(error)}`,
      );
    }
  }

  /**
   * Stops taking messages; waits for the handlers running; gives the messages not started (and
   * those waiting for a retry) back to the broker, in each key's order.
   */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.current !== InboundState.Running) return;
    this.current = InboundState.Stopping;
    // The transport stops handing messages over first, so that a message given back is not
    // handed to this instance again.
    const closing = this.subscription?.close();
    for (const wake of [...this.pauses]) wake();
    await this.lanes.whenIdle();
    await Promise.all(this.strays);
    await closing;
    this.current = InboundState.Stopped;
  }

  async onApplicationShutdown(): Promise<void> {
    this.current = InboundState.Stopped;
    await this.options.transport.close();
  }
}
