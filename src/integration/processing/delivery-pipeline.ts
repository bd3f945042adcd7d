import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeDatabaseError } from '../database/database-error';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { errorMessage } from '../utils/describe';
import {
  resolveConsumerOptions,
  type ResolvedConsumerOptions,
} from '../subscribers/consumer-options';
import { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';
import type { RegisteredHandler } from '../subscribers/handler.types';
import { DeliveryRepository } from './delivery.repository';
import type {
  ClaimedDelivery,
  DeliveryFact,
  SettleDecision,
  SettleInstruction,
} from './delivery.types';
import { EventSequencer } from './event-sequencer.repository';
import { IntegrationLifecycle } from './integration-lifecycle';
import { KeyRunLimits } from './key-run-limits';
import { TenantCursors } from './tenant-cursors';
import { ConsumerRunners } from './runners/consumer-runners';
import { SettlePolicy } from './settle-policy';

/** What one claim → run → settle cycle did, counted per delivery. */
export interface BatchResult {
  /** Deliveries claimed. */
  readonly claimed: number;
  /** Processed (their handlers' writes committed with the mark). */
  readonly processed: number;
  /** Failed and rescheduled with backoff. */
  readonly retried: number;
  /** Failed their last allowed attempt. */
  readonly deadLettered: number;
  /** Not started (behind a failure of their key, or shutdown) and given back. */
  readonly released: number;
  /** The lease was gone when marking or settling: another instance owns them now. */
  readonly leaseLost: number;
  /** The settle statement failed: they stay leased until the lease expires. */
  readonly unsettled: number;
}

/** A claimed batch whose leases a heartbeat keeps alive until it is settled or released. */
export interface ClaimedBatch {
  readonly deliveries: readonly ClaimedDelivery[];
  readonly heartbeat?: NodeJS.Timeout;
}

/** A batch result with nothing in it. */
export const EMPTY_BATCH_RESULT: BatchResult = Object.freeze({
  claimed: 0,
  processed: 0,
  retried: 0,
  deadLettered: 0,
  released: 0,
  leaseLost: 0,
  unsettled: 0,
});

/** Adds two batch results field by field. */
export function addBatchResults(a: BatchResult, b: BatchResult): BatchResult {
  return {
    claimed: a.claimed + b.claimed,
    processed: a.processed + b.processed,
    retried: a.retried + b.retried,
    deadLettered: a.deadLettered + b.deadLettered,
    released: a.released + b.released,
    leaseLost: a.leaseLost + b.leaseLost,
    unsettled: a.unsettled + b.unsettled,
  };
}

/** One delivery on its way through a cycle: what ran (if it ran), and what the policy decided. */
interface Outcome {
  readonly delivery: ClaimedDelivery;
  readonly fact?: DeliveryFact;
  readonly decision: SettleDecision;
}

/** What {@link DeliveryPipeline.deliverNow} did with one delivery. */
export type DeliverNowResult =
  | { readonly kind: 'ran'; readonly fact: DeliveryFact; readonly decision: SettleDecision }
  /** Not taken: finished already (processed, skipped) or leased by someone else right now. */
  | { readonly kind: 'not-taken' }
  /** Not run: past its allowed attempts, dead-lettered without running. */
  | { readonly kind: 'dead-lettered' };

const keyOf = (d: Pick<ClaimedDelivery, 'eventId' | 'consumer'>): string =>
  `${d.consumer}\u0000${d.eventId}`;

/**
 * The stages of one delivery cycle, in order: sequence committed events into deliveries,
 * claim a batch for the consumers this instance hosts, run each consumer's share with the
 * runner of its transactional mode, let the settle policy decide, settle. Every stage emits
 * its lifecycle event. The processor's lifecycle calls it; the only state it keeps between
 * cycles is each consumer's run limit ({@link KeyRunLimits}), fed by the outcomes it settles.
 */
@Injectable()
export class DeliveryPipeline {
  private readonly logger = new Logger('DeliveryPipeline');

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly sequencer: EventSequencer,
    private readonly deliveries: DeliveryRepository,
    private readonly registry: EventSubscriberRegistry,
    private readonly runners: ConsumerRunners,
    private readonly policy: SettlePolicy,
    private readonly lifecycle: IntegrationLifecycle,
    private readonly runLimits: KeyRunLimits,
    private readonly tenantCursors: TenantCursors,
  ) {}

  /**
   * Fans newly committed events out to their consumers, a bounded run at a time, until none
   * is left or another instance holds the sequencer. Returns the events sequenced.
   */
  async sequence(): Promise<number> {
    let total = 0;
    for (;;) {
      const run = await this.sequenceOnce();
      total += run.events;
      if (!run.more) return total;
    }
  }

  /**
   * One bounded sequencer run (`max(batchSize, 500)` events in commit order at most, and while
   * it is behind, the tenant lane: light tenants' events among the newest `2 × limit`).
   * `more`: it stopped at its limit, so committed events are still waiting (false when another
   * instance is sequencing). `tenanted`: some event it fanned out has a tenant.
   */
  async sequenceOnce(): Promise<{ events: number; more: boolean; tenanted: boolean }> {
    const limit = this.backgroundRunLimit();
    const run = await this.sequencer.sequence(this.options.database, limit, 2 * limit);
    this.reportSequenced(run);
    return { events: run.events, more: run.locked && run.more, tenanted: run.tenanted };
  }

  /**
   * One bounded sequencer run like {@link sequenceOnce} that also returns claimed the tenant
   * lane's deliveries for `consumers` that a claim could take at once, at most a batch per
   * consumer: light tenants' events fanned out ahead of a flood's window, to run beside the
   * flood's batches (the processor's background runs). Everything else it fans out is created
   * pending.
   */
  async sequenceOnceAndClaimLane(consumers: readonly string[]): Promise<{
    events: number;
    more: boolean;
    tenanted: boolean;
    batch: ClaimedBatch;
  }> {
    const { database, processor } = this.options;
    const limit = this.backgroundRunLimit();
    const run = await this.sequencer.sequenceAndClaimLane(database, limit, 2 * limit, {
      workerId: processor.workerId,
      consumers,
      leaseMs: processor.leaseMs,
      runLimits: this.runLimits.limits(consumers),
      batchSize: processor.batchSize,
    });
    this.reportSequenced(run);
    return {
      events: run.events,
      more: run.locked && run.more,
      tenanted: run.tenanted,
      batch: this.leased(run.claimed),
    };
  }

  /** Most events a run outside the claim takes in commit order: `max(batchSize, 500)`. */
  private backgroundRunLimit(): number {
    return Math.max(this.options.processor.batchSize, 500);
  }

  /**
   * One sequencer run of at most `batchSize` events, like {@link sequenceOnce}, that also
   * returns claimed the deliveries it created for `consumers` that a claim could take at once:
   * an event just committed reaches its handlers one statement later. `batch` holds only those; other due
   * deliveries (retries, events sequenced elsewhere) wait for {@link claim}. `leftPending`: the
   * run created deliveries it did not claim (for other consumers, or that a claim may take).
   * `tenanted`: some event it fanned out has a tenant.
   */
  async sequenceOnceAndClaim(consumers: readonly string[]): Promise<{
    events: number;
    more: boolean;
    tenanted: boolean;
    leftPending: boolean;
    batch: ClaimedBatch;
  }> {
    const { database, processor } = this.options;
    const run = await this.sequencer.sequenceAndClaim(database, processor.batchSize, {
      workerId: processor.workerId,
      consumers,
      leaseMs: processor.leaseMs,
      runLimits: this.runLimits.limits(consumers),
    });
    this.reportSequenced(run);
    return {
      events: run.events,
      more: run.locked && run.more,
      tenanted: run.tenanted,
      leftPending: run.deliveries > run.claimed.length,
      batch: this.leased(run.claimed),
    };
  }

  /** Claims a batch for `consumers` and keeps its leases alive until it is settled. */
  async claim(consumers: readonly string[]): Promise<ClaimedBatch> {
    if (consumers.length === 0) return { deliveries: [] };
    const { database, processor } = this.options;
    const deliveries = await this.deliveries.claim(
      database,
      processor.workerId,
      consumers,
      processor.batchSize,
      processor.leaseMs,
      this.runLimits.limits(consumers),
      this.tenantCursors,
    );
    return this.leased(deliveries);
  }

  /** Emits `events.sequenced` for a run that fanned events out. */
  private reportSequenced(run: { events: number; deliveries: number }): void {
    if (run.events === 0) return;
    this.lifecycle.emit({
      type: 'events.sequenced',
      events: run.events,
      deliveries: run.deliveries,
    });
  }

  /** Claimed deliveries as a batch whose leases a heartbeat extends until it is settled. */
  private leased(deliveries: readonly ClaimedDelivery[]): ClaimedBatch {
    if (deliveries.length === 0) return { deliveries };
    const { database, processor } = this.options;
    this.lifecycle.emit({ type: 'deliveries.claimed', workerId: processor.workerId, deliveries });
    // One extension at a time: on a loaded database a tick that overlapped the last one would
    // queue statements faster than they finish and take the pool from the batch itself.
    let extending = false;
    const heartbeat = setInterval(
      () => {
        if (extending) return;
        extending = true;
        this.deliveries
          .extendLease(database.root, processor.workerId, deliveries, processor.leaseMs)
          .catch((error: unknown) =>
            this.logger.warn(`Lease extension failed: ${describeDatabaseError(error)}`),
          )
          .finally(() => (extending = false));
      },
      Math.max(50, Math.floor(processor.leaseMs / 3)),
    );
    return { deliveries, heartbeat };
  }

  /** Runs a claimed batch, consumer by consumer at once, and settles it. */
  async complete(batch: ClaimedBatch, isStopping: () => boolean): Promise<BatchResult> {
    try {
      if (batch.deliveries.length === 0) return EMPTY_BATCH_RESULT;
      const byConsumer = new Map<string, ClaimedDelivery[]>();
      for (const d of batch.deliveries) {
        const list = byConsumer.get(d.consumer);
        if (list) list.push(d);
        else byConsumer.set(d.consumer, [d]);
      }
      const outcomes = (
        await Promise.all(
          [...byConsumer].map(([consumer, list]) => this.runConsumer(consumer, list, isStopping)),
        )
      ).flat();
      return await this.settle(outcomes);
    } finally {
      clearInterval(batch.heartbeat);
    }
  }

  /**
   * Runs one consumer's delivery of one event now, whatever its due time, and settles it: a
   * redelivery by hand (the test kit's `assertHandlerIdempotent`). Sequences first, so an event
   * just published has its deliveries.
   */
  async deliverNow(eventId: string, consumer: string): Promise<DeliverNowResult> {
    await this.sequence();
    const { database, processor } = this.options;
    const delivery = await this.deliveries.takeOne(
      database.root,
      processor.workerId,
      eventId,
      consumer,
      processor.leaseMs,
    );
    if (!delivery) return { kind: 'not-taken' };
    const [outcome] = await this.runConsumer(consumer, [delivery], () => false);
    await this.settle([outcome!]);
    return outcome!.fact
      ? { kind: 'ran', fact: outcome!.fact, decision: outcome!.decision }
      : { kind: 'dead-lettered' };
  }

  /** Gives a claimed batch back untouched (pending at once, attempt not counted). */
  async release(batch: ClaimedBatch): Promise<void> {
    clearInterval(batch.heartbeat);
    const instructions: SettleInstruction[] = batch.deliveries.map((d) => ({
      eventId: d.eventId,
      consumer: d.consumer,
      attempt: d.attempt,
      decision: { action: 'release' },
    }));
    await this.deliveries
      .settle(this.options.database.root, this.options.processor.workerId, instructions)
      .catch((error: unknown) =>
        this.logger.warn(
          `Could not release ${instructions.length} claimed deliveries; they return after their lease: ${describeDatabaseError(error)}`,
        ),
      );
  }

  /**
   * One consumer's share of a batch: deliveries past their allowed attempts are dead-lettered
   * unrun, deliveries with no handler here fail (their key's later ones wait), the rest go to
   * the runner of the consumer's mode; the policy turns each fact into a decision.
   */
  private async runConsumer(
    consumer: string,
    deliveries: readonly ClaimedDelivery[],
    isStopping: () => boolean,
  ): Promise<Outcome[]> {
    const settings = this.settingsOf(consumer);
    const retry = this.policy.retryPolicyOf(settings, this.options.processor.retry);
    const handlers = new Map<ClaimedDelivery, readonly RegisteredHandler[]>();
    const decided = new Map<ClaimedDelivery, SettleDecision>();
    const facts = new Map<ClaimedDelivery, DeliveryFact>();
    // Keys whose earlier delivery in this batch did not reach the runner.
    const heldKeys = new Set<string>();
    const toRun: ClaimedDelivery[] = [];
    for (const d of deliveries) {
      const early = this.policy.beforeRun(d, retry.maxAttempts);
      if (early) {
        decided.set(d, early);
        continue;
      }
      if (heldKeys.has(d.orderingKey)) {
        facts.set(d, { kind: 'not-started' });
        continue;
      }
      const own = this.registry.getHandlersByConsumer(d.event.name).get(consumer) ?? [];
      if (own.length === 0) {
        heldKeys.add(d.orderingKey);
        facts.set(d, {
          kind: 'failed',
          error:
            `No handler of consumer ${consumer} matches ${d.event.name} in this instance (worker ` +
            `${this.options.processor.workerId}). Another version of the app registered the consumer with ` +
            'that pattern; the delivery is retried until an instance that handles it takes it.',
          durationMs: 0,
        });
        continue;
      }
      handlers.set(d, own);
      toRun.push(d);
    }
    if (toRun.length > 0) {
      const ran = await this.run(consumer, settings, toRun, handlers, isStopping);
      toRun.forEach((d, i) => facts.set(d, ran[i]!));
    }
    const kinds = [...facts.values()].map((f) => f.kind);
    this.runLimits.record(
      consumer,
      kinds.filter((k) => k === 'handled').length,
      kinds.filter((k) => k === 'failed').length,
    );
    return deliveries.map((delivery) => {
      const early = decided.get(delivery);
      if (early) return { delivery, decision: early };
      const fact = facts.get(delivery)!;
      this.lifecycle.emit({ type: 'delivery.handled', delivery, fact });
      return {
        delivery,
        fact,
        decision: this.policy.decide(delivery, fact, retry, settings.transactional),
      };
    });
  }

  /** The runner's facts, or one failure per delivery when the runner itself broke. */
  private async run(
    consumer: string,
    settings: ResolvedConsumerOptions,
    deliveries: readonly ClaimedDelivery[],
    handlers: ReadonlyMap<ClaimedDelivery, readonly RegisteredHandler[]>,
    isStopping: () => boolean,
  ): Promise<readonly DeliveryFact[]> {
    const broken = (error: string): DeliveryFact[] =>
      deliveries.map(() => ({ kind: 'failed', error, durationMs: 0 }));
    let facts: readonly DeliveryFact[];
    try {
      facts = await this.runners.runnerFor(settings.transactional).run({
        consumer,
        settings,
        workerId: this.options.processor.workerId,
        deliveries,
        handlersOf: (d) => handlers.get(d) ?? [],
        isStopping,
      });
    } catch (error) {
      const message = `Consumer ${consumer} failed outside its handlers: ${describeDatabaseError(error)}`;
      this.logger.error(message);
      return broken(message);
    }
    // Checked as an array too: a runner that resolves to nothing must not strand the batch.
    if (!Array.isArray(facts) || facts.length !== deliveries.length) {
      const reported = Array.isArray(facts) ? `${facts.length} facts` : String(facts);
      return broken(
        `Runner of consumer ${consumer} reported ${reported} for ${deliveries.length} deliveries`,
      );
    }
    return facts;
  }

  /**
   * Writes the decisions in one statement; when it fails, one by one, so a decision the
   * database refuses cannot strand the others. A decision whose fence no longer matches is a
   * lost lease.
   */
  private async settle(outcomes: readonly Outcome[]): Promise<BatchResult> {
    const writes = outcomes.filter((o) => o.decision.action !== 'none');
    const instructions: SettleInstruction[] = writes.map(({ delivery, decision }) => ({
      eventId: delivery.eventId,
      consumer: delivery.consumer,
      attempt: delivery.attempt,
      decision: decision as SettleInstruction['decision'],
    }));
    const { changed, failed } = await this.write(instructions);

    let result: BatchResult = { ...EMPTY_BATCH_RESULT, claimed: outcomes.length };
    const count = (field: keyof BatchResult): void => {
      result = { ...result, [field]: result[field] + 1 };
    };
    for (const { delivery, fact, decision } of outcomes) {
      const key = keyOf(delivery);
      if (decision.action !== 'none' && failed.has(key)) {
        count('unsettled');
        continue;
      }
      // Lost when the runner's fenced mark found the lease gone (nothing to write, but not
      // processed by us), or when the settle's fence no longer matched.
      const lost = fact?.kind === 'lease-lost' || (decision.action !== 'none' && !changed.has(key));
      if (lost) {
        count('leaseLost');
        this.lifecycle.emit({ type: 'delivery.lease-lost', delivery });
        continue;
      }
      this.lifecycle.emit({ type: 'delivery.settled', delivery, decision });
      switch (decision.action) {
        case 'none':
        case 'processed':
          count('processed');
          break;
        case 'retry':
          count('retried');
          break;
        case 'dead-letter':
          count('deadLettered');
          this.lifecycle.emit({ type: 'delivery.dead-lettered', delivery, error: decision.error });
          break;
        case 'release':
          count('released');
          break;
      }
    }
    return result;
  }

  /** The settle statement, with the one-by-one fallback; keys changed and keys not written. */
  private async write(
    instructions: readonly SettleInstruction[],
  ): Promise<{ changed: Set<string>; failed: Set<string> }> {
    const { database, processor } = this.options;
    const changed = new Set<string>();
    const failed = new Set<string>();
    if (instructions.length === 0) return { changed, failed };
    try {
      for (const k of await this.deliveries.settle(database.root, processor.workerId, instructions))
        changed.add(keyOf(k));
      return { changed, failed };
    } catch (error) {
      this.logger.error(
        `Settling ${instructions.length} deliveries failed, settling them one by one: ${describeDatabaseError(error)}`,
      );
    }
    const problems: string[] = [];
    for (const instruction of instructions) {
      try {
        for (const k of await this.deliveries.settle(database.root, processor.workerId, [
          instruction,
        ]))
          changed.add(keyOf(k));
      } catch (error) {
        failed.add(keyOf(instruction));
        problems.push(`${instruction.consumer}/${instruction.eventId}: ${errorMessage(error)}`);
      }
    }
    if (problems.length > 0) {
      this.logger.error(
        `${problems.length} deliveries could not be settled; they stay leased until the lease expires: ${problems.join(' | ')}`,
      );
    }
    return { changed, failed };
  }

  /** A consumer's settings (defaults when the registry has none, e.g. after an unregister). */
  private settingsOf(consumer: string): ResolvedConsumerOptions {
    const settings = this.registry.getConsumerSettings(consumer);
    return settings ?? resolveConsumerOptions({});
  }
}
