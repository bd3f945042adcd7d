import type { INestApplicationContext } from '@nestjs/common';
import { isDeepStrictEqual } from 'node:util';
import { IntegrationAdminService } from '../admin/integration-admin.service';
import { EventNotFoundError } from '../errors/event-not-found.error';
import { HandlerNotIdempotentError } from '../errors/handler-not-idempotent.error';
import { InvalidHandlerError } from '../errors/invalid-handler.error';
import type { PublishEventInput } from '../events/integration-event';
import { DomainEventPublisher } from '../outbox/domain-event.publisher';
import type { DeliverNowResult } from '../processing/delivery-pipeline';
import { OutboxProcessor, type DrainResult } from '../processing/outbox.processor';
import { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';

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
  /** Per delivery: whether the consumer ran (and what happened), or why not. */
  readonly outcomes: readonly DeliverNowResult[];
}

/**
 * Delivers one event `times` times to `consumer` (as redeliveries after a crash would: each
 * takes the delivery over whatever its due time) and asserts that exactly one observable state
 * change happened: the projection-offset contract. Fails loudly with
 * {@link HandlerNotIdempotentError} on zero changes (the handler changed nothing `observe`
 * sees, or the consumer had already processed the event) or on several, e.g. a handler that
 * writes through another connection instead of `ctx.tx` and then fails, so its retry repeats
 * the write. A delivery whose handlers succeeded is marked processed in their transaction and
 * never runs again, whatever the handler does, so this cannot catch every misuse of `ctx.tx`.
 */
export async function assertHandlerIdempotent(
  app: INestApplicationContext,
  options: AssertHandlerIdempotentOptions,
): Promise<IdempotencyReport> {
  const times = options.times ?? 5;
  if (!Number.isInteger(times) || times < 2) throw new RangeError('times must be an integer >= 2');
  const registry = app.get(EventSubscriberRegistry);
  const processor = app.get(OutboxProcessor);
  const eventId =
    typeof options.event === 'string' ? options.event : await publishForTest(app, options.event);
  const found = await app.get(IntegrationAdminService).findEvent(eventId);
  if (!found) throw new EventNotFoundError(eventId);
  if (!registry.getHandlersByConsumer(found.event.name).has(options.consumer)) {
    throw new InvalidHandlerError(
      `consumer "${options.consumer}"`,
      `has no handler matching ${found.event.name}; registered consumers: ${registry.getConsumers().join(', ') || 'none'}`,
    );
  }

  const snapshots: unknown[] = [await options.observe()];
  const outcomes: DeliverNowResult[] = [];
  for (let n = 0; n < times; n++) {
    outcomes.push(await processor.deliverNow(eventId, options.consumer));
    snapshots.push(await options.observe());
  }
  let mutations = 0;
  for (let i = 1; i < snapshots.length; i++)
    if (!isDeepStrictEqual(snapshots[i], snapshots[i - 1])) mutations++;
  if (mutations !== 1)
    throw new HandlerNotIdempotentError(options.consumer, times, mutations, snapshots);
  return { eventId, deliveries: times, mutations, outcomes };
}

/** Processes until nothing is due or in flight for this app's consumers (`OutboxProcessor.drain`). */
export function drainUntilIdle(
  app: INestApplicationContext,
  options: { timeoutMs?: number } = {},
): Promise<DrainResult> {
  return app.get(OutboxProcessor).drain(options);
}

/** Publishes the event of a test run; refuses when `outbox.shouldEnqueue` dropped it. */
async function publishForTest(
  app: INestApplicationContext,
  event: PublishEventInput,
): Promise<string> {
  const id = await app.get(DomainEventPublisher).publishStandalone(event);
  if (id === null) {
    throw new Error(
      `outbox.shouldEnqueue dropped ${event.name}: nothing to deliver; publish an event it keeps, or pass an event id`,
    );
  }
  return id;
}
