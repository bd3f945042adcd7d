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
import { inboundOptionProblems, type IntegrationInboundOptions } from './inbound.options';

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

/**
 * Takes broker messages in: for each message, for each configured consumer with handlers for
 * its event name, runs those handlers through `InboxService.runOnce` keyed by (message id,
 * consumer) — the message id being the event id (`integration-event-id`, which a replay under
 * a new broker id keeps) — so their effects and the inbox mark commit together and a redelivered message
 * changes nothing twice. The message is acknowledged only after every consumer's transaction
 * committed; a failure gives it back to the broker with backoff, and after `retry.maxAttempts`
 * deliveries moves it to the dead-letter destination with its headers and the error.
 *
 * Handlers are the same `@OnIntegrationEvent` methods as for outbox events, with the same
 * `ctx` (`ctx.tx` is always a transaction here, whatever the consumer's `transactional` mode,
 * since the inbox mark needs one). Messages are handled one at a time, in broker order.
 */
@Injectable()
export class IntegrationInbound
  implements OnModuleInit, OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown
{
  private readonly logger = new Logger('IntegrationInbound');
  private readonly retry: RetryPolicy;
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
  }

  /** Where the subscription stands. */
  get state(): InboundState {
    return this.current;
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
    this.subscription = await this.options.transport.subscribe!((message) => this.handle(message));
    this.current = InboundState.Running;
    this.logger.log(
      `Taking messages from ${this.options.transport.name} into ${this.options.consumers.join(', ')}`,
    );
  }

  /**
   * Handles one message (what the subscription calls): never throws; it settles the message
   * with `ack`, `retry` or `deadLetter`, and a settle that fails is logged (the broker then
   * redelivers it, and the inbox keeps that harmless).
   */
  async handle(message: IncomingMessage): Promise<void> {
    let event: IntegrationEvent;
    try {
      event = toIntegrationEvent(message);
    } catch (error) {
      this.logger.warn(`${firstLine(error)}: dead-lettering it`);
      await this.settle(message, () => message.deadLetter(errorMessage(error)));
      return;
    }
    // Each consumer's CONSUMER span (opened by the invoker) ends with the message's settle:
    // the consumers whose transaction committed as processed, the failing one with the decision.
    const committed: ClaimedDelivery[] = [];
    let failing: ClaimedDelivery | undefined;
    try {
      for (const consumer of this.options.consumers) {
        const delivery = this.deliveryFor(event, consumer, message);
        if (!delivery) continue;
        failing = delivery;
        await this.deliver(delivery);
        committed.push(delivery);
        failing = undefined;
      }
    } catch (error) {
      const reason = errorMessage(error);
      let decision: SettleDecision;
      if (message.deliveryCount >= this.retry.maxAttempts) {
        this.logger.warn(
          `${event.name} ${event.id} failed delivery ${message.deliveryCount} of ${this.retry.maxAttempts}: dead-lettering it (${firstLine(error)})`,
        );
        decision = { action: 'dead-letter', error: reason };
        await this.settle(message, () => message.deadLetter(reason));
      } else {
        const delayMs = computeBackoffDelay(this.retry, message.deliveryCount);
        decision = { action: 'retry', delayMs, error: reason };
        await this.settle(message, () => message.retry(delayMs));
      }
      this.endSpans(committed, { action: 'processed' });
      if (failing) this.tracing.settled(failing, decision);
      return;
    }
    await this.settle(message, () => message.ack());
    this.endSpans(committed, { action: 'processed' });
  }

  private endSpans(deliveries: readonly ClaimedDelivery[], decision: SettleDecision): void {
    for (const delivery of deliveries) this.tracing.settled(delivery, decision);
  }

  /** The delivery of `event` to `consumer`, or undefined when it has no handler for it. */
  private deliveryFor(
    event: IntegrationEvent,
    consumer: string,
    message: IncomingMessage,
  ): (ClaimedDelivery & { handlers: readonly RegisteredHandler[] }) | undefined {
    const handlers = this.registry.getHandlersByConsumer(event.name).get(consumer);
    if (!handlers?.length) return undefined;
    return {
      eventId: event.id,
      consumer,
      position: event.seq,
      orderingKey: event.orderingKey,
      attempt: message.deliveryCount,
      leaseExpired: false,
      lastError: null,
      event,
      handlers,
    };
  }

  private async deliver(
    delivery: ClaimedDelivery & { handlers: readonly RegisteredHandler[] },
  ): Promise<void> {
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

  /** Stops taking messages; waits for the message being handled. */
  async beforeApplicationShutdown(): Promise<void> {
    if (this.current !== InboundState.Running) return;
    this.current = InboundState.Stopping;
    await this.subscription?.close();
    this.current = InboundState.Stopped;
  }

  async onApplicationShutdown(): Promise<void> {
    this.current = InboundState.Stopped;
    await this.options.transport.close();
  }
}
