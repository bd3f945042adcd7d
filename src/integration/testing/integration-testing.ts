import type { INestApplicationContext } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { EventNotFoundError } from '../errors/event-not-found.error';
import { HandlerNotIdempotentError } from '../errors/handler-not-idempotent.error';
import { InvalidHandlerError } from '../errors/invalid-handler.error';
import type { PublishEventInput } from '../events/integration-event';
import { DomainEventPublisher } from '../outbox/domain-event.publisher';
import type { DispatchOutcome } from '../outbox/event-dispatcher';
import { OutboxProcessor, type DrainResult } from '../outbox/outbox.processor';
import { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';
import { SubscriberDispatcher } from '../subscribers/subscriber.dispatcher';

/** Options of {@link assertHandlerIdempotent}. */
export interface AssertHandlerIdempotentOptions {
  /** The event: an input to publish (standalone), or the id of an event already in the outbox. */
  readonly event: PublishEventInput | string;
  /** The consumer under test. */
  readonly consumer: string;
  /** Deliveries of the same event. @default 5 */
  readonly times?: number;
  /** Reads the state the consumer changes (rows, counters…); compared by deep equality. */
  readonly observe: () => Promise<unknown> | unknown;
}

/** What {@link assertHandlerIdempotent} saw. */
export interface IdempotencyReport {
  readonly eventId: string;
  readonly deliveries: number;
  readonly mutations: number;
  readonly outcomes: readonly DispatchOutcome[];
}

/**
 * Delivers one event `times` times to `consumer` (as redeliveries after a crash would) and
 * asserts that exactly one observable state change happened: the projection-offset contract.
 * Fails loudly with {@link HandlerNotIdempotentError} on zero changes (the handler changed
 * nothing `observe` sees, or the consumer had already processed the event) or on several, e.g.
 * a handler that writes through another connection instead of `ctx.tx` and then fails, so its
 * retry repeats the write. A handler whose first delivery succeeds is protected by the inbox
 * from then on, whatever it does, so this cannot catch every misuse of `ctx.tx`.
 */
export async function assertHandlerIdempotent(
  app: INestApplicationContext,
  options: AssertHandlerIdempotentOptions,
): Promise<IdempotencyReport> {
  const times = options.times ?? 5;
  if (!Number.isInteger(times) || times < 2) throw new RangeError('times must be an integer >= 2');
  const processor = app.get(OutboxProcessor);
  const dispatcher = app.get(SubscriberDispatcher);
  const registry = app.get(EventSubscriberRegistry);
  const eventId =
    typeof options.event === 'string'
      ? options.event
      : await app.get(DomainEventPublisher).publishStandalone(options.event);
  const record = await processor.findEvent(eventId);
  if (!record) throw new EventNotFoundError(eventId);
  if (!registry.getHandlersByConsumer(record.name).has(options.consumer)) {
    throw new InvalidHandlerError(
      `consumer "${options.consumer}"`,
      `has no handler matching ${record.name}; registered consumers: ${registry.getConsumers().join(', ') || 'none'}`,
    );
  }

  const snapshots: unknown[] = [await options.observe()];
  const outcomes: DispatchOutcome[] = [];
  const deliver = (n: number): Promise<DispatchOutcome> =>
    dispatcher.deliverTo(
      { ...record, attemptCount: record.attemptCount + n + 1 },
      options.consumer,
    );
  for (let n = 0; n < times; n++) {
    outcomes.push(await deliver(n));
    snapshots.push(await options.observe());
  }
  let mutations = 0;
  for (let i = 1; i < snapshots.length; i++)
    if (!isDeepStrictEqual(snapshots[i], snapshots[i - 1])) mutations++;
  if (mutations !== 1)
    throw new HandlerNotIdempotentError(options.consumer, times, mutations, snapshots);
  return { eventId, deliveries: times, mutations, outcomes };
}

/** Processes the outbox until nothing is due or in flight (`OutboxProcessor.drain`). */
export function drainUntilIdle(
  app: INestApplicationContext,
  options: { timeoutMs?: number } = {},
): Promise<DrainResult> {
  return app.get(OutboxProcessor).drain(options);
}
