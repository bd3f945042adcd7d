import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { MAX_TIMER_DELAY_MS, computeBackoffDelay } from '../utils/retry';
import { DrainTimeoutError } from '../errors/drain-timeout.error';
import { EventNotFoundError } from '../errors/event-not-found.error';
import { describeDatabaseError } from '../database/database-error';
import type { OutboxEventRecord } from '../events/integration-event';
import {
  DEFAULT_PURGE_INTERVAL_NAME,
  INTEGRATION_OPTIONS,
  OUTBOX_DISPATCHER,
} from '../integration.constants';
import { assertPurgeArguments, type ResolvedIntegrationOptions } from '../integration.options';
import {
  checkDispatchOutcome,
  describeValue,
  errorMessage,
  type DispatchOutcome,
  type EventDispatcher,
} from './event-dispatcher';
import type { ListenHandle } from '../database/sql-executor';
import { ClaimBackoff } from '../processing/claim-backoff';
import { ProcessorTimers } from '../processing/processor-timers';
import { startWakeListener } from '../processing/wake-listener';
import {
  checkAggregateQuery,
  checkDeadLetterFilter,
  checkEventId,
  type FindEventsByAggregateOptions,
} from './outbox-query.validation';
import {
  OutboxRepository,
  SettleAction,
  type ClaimedEvent,
  type DeadLetterFilter,
  type OutboxStats,
  type SettleInstruction,
} from './outbox.repository';

/** What one claim → dispatch → settle cycle did. */
export interface BatchResult {
  /** Events claimed. */
  readonly claimed: number;
  /** Settled as processed. */
  readonly processed: number;
  /** Failed and rescheduled with backoff. */
  readonly retried: number;
  /** Failed for the last allowed time. */
  readonly deadLettered: number;
  /** Not attempted (behind a failure of their ordering key, or shutdown) and released. */
  readonly deferred: number;
  /** Could not be settled because the lease was taken over meanwhile. */
  readonly leaseLost: number;
  /**
   * Could not be settled because the settle statement failed (e.g. the database refused it):
   * they stay `processing` until their lease expires, then are claimed again.
   */
  readonly unsettled: number;
}

/** Totals of a {@link OutboxProcessor.drain}. */
export interface DrainResult extends BatchResult {
  readonly batches: number;
}

/** Counters since start plus the table's state. */
export interface ProcessorStats extends OutboxStats {
  readonly workerId: string;
  readonly running: boolean;
  /** True while the LISTEN connection is up (false: polling only). */
  readonly listening: boolean;
  readonly totals: DrainResult;
}

/** A claimed batch whose leases a heartbeat keeps alive until it is settled or released. */
interface ClaimedBatch {
  readonly events: ClaimedEvent[];
  readonly heartbeat?: NodeJS.Timeout;
}

const EMPTY: DrainResult = Object.freeze({
  batches: 0,
  claimed: 0,
  processed: 0,
  retried: 0,
  deadLettered: 0,
  deferred: 0,
  leaseLost: 0,
  unsettled: 0,
});

function add(a: DrainResult, b: BatchResult): DrainResult {
  return {
    batches: a.batches + (b.claimed > 0 ? 1 : 0),
    claimed: a.claimed + b.claimed,
    processed: a.processed + b.processed,
    retried: a.retried + b.retried,
    deadLettered: a.deadLettered + b.deadLettered,
    deferred: a.deferred + b.deferred,
    leaseLost: a.leaseLost + b.leaseLost,
    unsettled: a.unsettled + b.unsettled,
  };
}

/**
 * Delivers outbox events: claims due events in batches with a lease (`FOR UPDATE SKIP LOCKED`),
 * hands them to the dispatcher, and settles them (processed, retry with backoff, dead letter).
 * Safe with any number of instances on one database. Polls on an interval (registered in the
 * app's `SchedulerRegistry` when the app imports `ScheduleModule.forRoot()`), loops at once
 * while batches are full, and is woken early by NOTIFY.
 */
@Injectable()
export class OutboxProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxProcessor');
  private started = false;
  private stopping = false;
  private loopPromise?: Promise<void>;
  private wakeRequested = false;
  /** Resolves the loop's wait for in-flight batches when a wake-up arrives. */
  private onWake?: () => void;
  private readonly inflight = new Set<Promise<unknown>>();
  private listener?: ListenHandle;
  private totals: DrainResult = EMPTY;
  /** The poll and purge intervals while started (also in the app's SchedulerRegistry, if any). */
  private readonly timers: ProcessorTimers;
  /** The loop's pause after failed claims. */
  private readonly backoff: ClaimBackoff;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly repository: OutboxRepository,
    @Inject(OUTBOX_DISPATCHER) private readonly dispatcher: EventDispatcher,
    moduleRef: ModuleRef,
  ) {
    this.timers = new ProcessorTimers(moduleRef);
    this.backoff = new ClaimBackoff(options.processor.idlePollIntervalMs);
  }

  /** The `locked_by` identity of this instance. */
  get workerId(): string {
    return this.options.processor.workerId;
  }

  /** True between {@link start} and {@link stop}. */
  get isRunning(): boolean {
    return this.started;
  }

  async onApplicationBootstrap(): Promise<void> {
    // The per-consumer model runs DeliveryProcessor instead.
    if (this.options.deliveryModel !== 'per-event') return;
    if (this.options.processor.enabled) await this.start();
    else this.logger.log('Outbox processor disabled (processor.enabled: false)');
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Starts polling (and LISTEN); with `startupDrain`, begins on the backlog at once. */
  async start(): Promise<void> {
    if (this.started) return;
    // Before anything starts: a broken @nestjs/schedule install fails start() with nothing running.
    this.timers.open();
    this.started = true;
    this.stopping = false;
    const { processor } = this.options;
    this.listener = await startWakeListener(this.options, () => this.wake(), this.logger);
    this.timers.add(processor.intervalName, () => this.wake(), processor.idlePollIntervalMs);
    if (processor.purge.enabled) {
      this.timers.add(
        `${DEFAULT_PURGE_INTERVAL_NAME}:${processor.intervalName}`,
        () => {
          this.purgeProcessed().catch((error: unknown) =>
            this.logger.error(`Purge failed: ${describeDatabaseError(error)}`),
          );
        },
        processor.purge.intervalMs,
      );
    }
    this.logger.log(
      `Outbox processor ${processor.workerId} started (batch ${processor.batchSize}, lease ${processor.leaseMs} ms, ` +
        `poll ${processor.idlePollIntervalMs} ms${this.listener?.listening ? ', LISTEN on' : ''})`,
    );
    if (processor.startupDrain) this.wake();
  }

  /**
   * Stops claiming, waits up to `shutdownTimeoutMs` for in-flight batches, then releases any
   * claim still held back to `pending` so another instance takes it at once.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    this.stopping = true;
    const { processor } = this.options;
    this.timers.clear();
    await this.listener?.close();
    this.listener = undefined;

    const work = Promise.allSettled([...this.inflight, this.loopPromise ?? Promise.resolve()]);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      work.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), processor.shutdownTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      const released = await this.repository.releaseAll(this.options.database.root, this.workerId);
      this.logger.warn(
        `Shutdown timeout (${processor.shutdownTimeoutMs} ms) with work in flight: released ${released} claimed event(s) to pending`,
      );
    }
    // Manual processBatch()/drain() work again after a stop (e.g. in scripts and tests).
    this.stopping = false;
    this.logger.log(`Outbox processor ${this.workerId} stopped`);
  }

  /** Asks the loop to run now (coalesced: at most one loop runs, and it runs again if asked meanwhile). */
  wake(): void {
    if (!this.started || this.stopping) return;
    if (this.loopPromise) {
      this.wakeRequested = true;
      this.onWake?.();
      return;
    }
    this.loopPromise = this.loop().finally(() => {
      this.loopPromise = undefined;
    });
  }

  /**
   * Processes batches while they come back full, up to `processor.concurrency` at once: a new
   * batch is claimed as soon as a slot is free (its key check skips keys with an event in
   * flight, so per-key order holds). Returns when the outbox looked drained and every batch it
   * started has been settled.
   */
  private async loop(): Promise<void> {
    const { batchSize, concurrency } = this.options.processor;
    const running = new Set<Promise<void>>();
    do {
      this.wakeRequested = false;
      // A failed batch (e.g. its settle) ends this round; the next poll tries again.
      let failed = false;
      for (;;) {
        while (running.size >= concurrency) await Promise.race(running);
        if (this.stopping || failed || this.backoff.paused) break;
        let claimed: ClaimedBatch;
        try {
          claimed = await this.track(this.claimBatch());
        } catch (error) {
          // Never let the loop die: log one line, back off, and a later poll tries again.
          const { failures, delayMs } = this.backoff.failed();
          this.logger.error(
            `Outbox claim failed (${failures} in a row): ${describeDatabaseError(error)}; next claim in ${delayMs} ms`,
          );
          break;
        }
        const ended = this.backoff.succeeded();
        if (ended > 0) this.logger.log(`Outbox claims succeed again after ${ended} failure(s)`);
        if (claimed.events.length === 0) break;
        if (this.stopping) {
          await this.release(claimed);
          break;
        }
        const work: Promise<void> = this.track(this.completeBatch(claimed)).then(
          (result) => {
            this.totals = add(this.totals, result);
          },
          (error: unknown) => {
            failed = true;
            this.logger.error(`Outbox batch failed: ${describeDatabaseError(error)}`);
          },
        );
        running.add(work);
        void work.then(() => running.delete(work));
        if (claimed.events.length < batchSize) break;
      }
      // Let in-flight batches finish, unless a wake-up (NOTIFY, poll) may bring work for a
      // free slot sooner.
      while (running.size > 0 && !this.wakeRequested && !this.stopping) {
        await Promise.race([...running, new Promise<void>((resolve) => (this.onWake = resolve))]);
        this.onWake = undefined;
      }
    } while (this.wakeRequested && !this.stopping);
    await Promise.all(running);
  }

  /** Keeps `work` in the set {@link stop} waits for. */
  private track<T>(work: Promise<T>): Promise<T> {
    this.inflight.add(work);
    void work.then(
      () => this.inflight.delete(work),
      () => this.inflight.delete(work),
    );
    return work;
  }

  /** Gives a claimed batch back (pending at once, attempt not counted). */
  private async release(claimed: ClaimedBatch): Promise<void> {
    clearInterval(claimed.heartbeat);
    await this.repository
      .settle(
        this.options.database.root,
        this.workerId,
        claimed.events.map((e) => ({
          id: e.id,
          attempt: e.attemptCount,
          action: SettleAction.Release,
        })),
      )
      .catch((error: unknown) =>
        this.logger.warn(
          `Could not release ${claimed.events.length} claimed event(s); they return after their lease: ${describeDatabaseError(error)}`,
        ),
      );
  }

  /** One claim → dispatch → settle cycle. */
  async processBatch(): Promise<BatchResult> {
    const result = await this.track(
      this.claimBatch().then((claimed) => this.completeBatch(claimed)),
    );
    this.totals = add(this.totals, result);
    return result;
  }

  /** Claims a batch and keeps its leases alive (heartbeat) until it is settled. */
  private async claimBatch(): Promise<ClaimedBatch> {
    const { database, processor } = this.options;
    const events = await this.repository.claim(
      database.root,
      this.workerId,
      processor.batchSize,
      processor.leaseMs,
    );
    if (events.length === 0) return { events };
    const ids = events.map((e) => e.id);
    const heartbeat = setInterval(
      () => {
        this.repository
          .extendLease(database.root, this.workerId, ids, processor.leaseMs)
          .catch((error: unknown) =>
            this.logger.warn(`Lease extension failed: ${describeDatabaseError(error)}`),
          );
      },
      Math.max(50, Math.floor(processor.leaseMs / 3)),
    );
    return { events, heartbeat };
  }

  /**
   * Dispatches a claimed batch and settles it. Events claimed beyond their allowed attempts
   * are dead-lettered without being dispatched; the dispatcher's outcomes are checked, never
   * trusted; a settle that fails for the batch is retried event by event.
   */
  private async completeBatch({ events, heartbeat }: ClaimedBatch): Promise<BatchResult> {
    if (events.length === 0) return { ...EMPTY };
    const instructions: SettleInstruction[] = new Array<SettleInstruction>(events.length);
    const toDispatch: number[] = [];
    try {
      const allowed = events.map((event) => this.allowedAttempts(event));
      events.forEach((event, i) => {
        if (event.attemptCount > allowed[i]!) instructions[i] = this.exhausted(event, allowed[i]!);
        else toDispatch.push(i);
      });
      if (toDispatch.length > 0) {
        const batch = toDispatch.map((i) => events[i]!);
        const outcomes = await this.dispatch(batch);
        const problems: string[] = [];
        batch.forEach((event, j) => {
          const i = toDispatch[j]!;
          instructions[i] = this.instructionFor(event, allowed[i]!, outcomes[j], problems);
        });
        if (problems.length > 0) {
          this.logger.error(
            `Dispatcher returned ${problems.length} invalid or clamped outcome(s) in a batch of ${batch.length} ` +
              '(invalid ones are settled as failures, retried per processor.retry; delays above ' +
              `MAX_TIMER_DELAY_MS are clamped): ${problems.join(' | ')}`,
          );
        }
      }
    } finally {
      clearInterval(heartbeat);
    }

    const settled = await this.settle(instructions);
    const result = {
      claimed: events.length,
      processed: 0,
      retried: 0,
      deadLettered: 0,
      deferred: 0,
      leaseLost: 0,
      unsettled: 0,
    };
    instructions.forEach((instruction, i) => {
      if (settled.unsettled.has(instruction.id)) {
        result.unsettled++;
        return;
      }
      if (!settled.ids.has(instruction.id)) {
        result.leaseLost++;
        return;
      }
      if (instruction.action === SettleAction.Processed) result.processed++;
      else if (instruction.action === SettleAction.Retry) result.retried++;
      else if (instruction.action === SettleAction.Release) result.deferred++;
      else {
        result.deadLettered++;
        this.logger.error(
          `Event ${events[i]!.id} (${events[i]!.name}) dead-lettered after ${instruction.attempt} attempt(s): ${instruction.error}`,
        );
      }
      if (instruction.action === SettleAction.Retry) {
        this.logger.warn(
          `Event ${events[i]!.id} (${events[i]!.name}) attempt ${instruction.attempt} failed, retry in ${instruction.delayMs} ms: ${instruction.error}`,
        );
      }
    });
    if (result.leaseLost > 0) {
      this.logger.warn(
        `${result.leaseLost} event(s) not settled: their lease was taken over by another instance, which now owns them`,
      );
    }
    return result;
  }

  /**
   * Hands a batch to the dispatcher. A dispatcher that throws, or returns anything but one
   * outcome per event, fails the whole batch (the outcomes cannot be matched to the events).
   */
  private async dispatch(events: readonly ClaimedEvent[]): Promise<unknown[]> {
    let outcomes: unknown;
    try {
      outcomes = await this.dispatcher.dispatchBatch(events, {
        workerId: this.workerId,
        isStopping: () => this.stopping,
      });
    } catch (error) {
      return this.failAll(events, `Dispatcher failed: ${errorMessage(error)}`);
    }
    if (!Array.isArray(outcomes) || outcomes.length !== events.length) {
      const got = Array.isArray(outcomes)
        ? `${outcomes.length} outcome(s)`
        : describeValue(outcomes);
      return this.failAll(
        events,
        `Dispatcher failed: it returned ${got} for ${events.length} event(s) (expected an array with one outcome per event, in batch order)`,
      );
    }
    return outcomes;
  }

  private failAll(events: readonly ClaimedEvent[], message: string): DispatchOutcome[] {
    this.logger.error(message);
    return events.map(() => ({ status: 'failed', error: message }));
  }

  /**
   * The attempts `event` is allowed in total: the dispatcher's answer when it has one (the
   * default dispatcher: the largest `maxAttempts` among the consumers that handle the event),
   * else `processor.retry.maxAttempts`. The one place that decides when an event's attempts are
   * used up, whether its last attempt failed or never ended.
   */
  private allowedAttempts(event: OutboxEventRecord): number {
    const fallback = this.options.processor.retry.maxAttempts;
    if (typeof this.dispatcher.maxAttempts !== 'function') return fallback;
    let allowed: unknown;
    try {
      allowed = this.dispatcher.maxAttempts(event);
    } catch (error) {
      this.logger.error(
        `dispatcher.maxAttempts failed for event ${event.id}; using processor.retry.maxAttempts (${fallback}): ${errorMessage(error)}`,
      );
      return fallback;
    }
    if (typeof allowed === 'number' && Number.isInteger(allowed) && allowed >= 1) return allowed;
    this.logger.error(
      `dispatcher.maxAttempts returned ${describeValue(allowed)} for event ${event.id} (expected an integer >= 1); ` +
        `using processor.retry.maxAttempts (${fallback})`,
    );
    return fallback;
  }

  /** Dead letter for an event claimed beyond its allowed attempts; no handler runs for it. */
  private exhausted(event: ClaimedEvent, allowed: number): SettleInstruction {
    const last = event.attemptCount - 1;
    const which =
      last === allowed ? `attempt ${last} (the last of ${allowed} allowed)` : `attempt ${last}`;
    const cause = event.leaseExpired
      ? `the lease of ${which} expired before it was settled, and no attempt is left: ` +
        'the worker probably crashed or stalled while handling it (e.g. a handler that kills the process, ' +
        'exhausts its memory or blocks the event loop)'
      : `its ${last} attempt(s) already reach the ${allowed} now allowed (maxAttempts was lowered since)`;
    const previous = event.lastError === null ? '' : ` Previous error: ${event.lastError}`;
    return {
      id: event.id,
      attempt: event.attemptCount,
      action: SettleAction.DeadLetter,
      error:
        `Dead-lettered without running its handlers again: ${cause}. Fix the cause, then ` +
        `replay it with OutboxProcessor.replay(id) or replayDeadLetters(filter).${previous}`,
    };
  }

  /**
   * Turns what the dispatcher returned for `event` into a settle instruction; a problem with
   * the value is appended to `problems` (logged once per batch).
   */
  private instructionFor(
    event: OutboxEventRecord,
    allowed: number,
    value: unknown,
    problems: string[],
  ): SettleInstruction {
    const attempt = event.attemptCount;
    let outcome: DispatchOutcome;
    try {
      const checked = checkDispatchOutcome(value);
      outcome = checked.outcome;
      if (checked.problem !== undefined) problems.push(`event ${event.id}: ${checked.problem}`);
    } catch (error) {
      // e.g. a Proxy whose getters throw
      const problem = `reading it threw ${errorMessage(error)}`;
      problems.push(`event ${event.id}: ${problem}`);
      outcome = { status: 'failed', error: `dispatcher returned an invalid outcome: ${problem}` };
    }
    switch (outcome.status) {
      case 'processed':
        return { id: event.id, attempt, action: SettleAction.Processed };
      case 'deferred':
        return { id: event.id, attempt, action: SettleAction.Release };
      case 'failed': {
        const policy = this.options.processor.retry;
        // A dispatcher that decides (per-consumer retry policies) is trusted; otherwise the
        // allowed attempts decide.
        const retry = outcome.final === undefined ? attempt < allowed : !outcome.final;
        if (retry) {
          return {
            id: event.id,
            attempt,
            action: SettleAction.Retry,
            delayMs: Math.min(
              MAX_TIMER_DELAY_MS,
              outcome.delayMs ?? computeBackoffDelay(policy, attempt),
            ),
            error: outcome.error,
          };
        }
        return { id: event.id, attempt, action: SettleAction.DeadLetter, error: outcome.error };
      }
    }
  }

  /**
   * Settles a batch in one statement. When that statement fails, settles the events one by
   * one, so one instruction the database refuses cannot strand the others; the events that
   * still cannot be settled stay `processing` until their lease expires (logged).
   */
  private async settle(
    instructions: readonly SettleInstruction[],
  ): Promise<{ ids: Set<string>; unsettled: Set<string> }> {
    const root = this.options.database.root;
    try {
      return {
        ids: new Set(await this.repository.settle(root, this.workerId, instructions)),
        unsettled: new Set(),
      };
    } catch (error) {
      this.logger.error(
        `Settling a batch of ${instructions.length} event(s) failed, settling them one by one: ${describeDatabaseError(error)}`,
      );
    }
    const ids = new Set<string>();
    const unsettled = new Map<string, string>();
    for (const instruction of instructions) {
      try {
        for (const id of await this.repository.settle(root, this.workerId, [instruction]))
          ids.add(id);
      } catch (error) {
        unsettled.set(
          instruction.id,
          `${instruction.id} (${instruction.action}): ${describeDatabaseError(error)}`,
        );
      }
    }
    if (unsettled.size > 0) {
      this.logger.error(
        `${unsettled.size} event(s) could not be settled; they stay processing until their lease expires, ` +
          `then are claimed again: ${[...unsettled.values()].join(' | ')}`,
      );
    }
    return { ids, unsettled: new Set(unsettled.keys()) };
  }

  /**
   * Processes batches until the outbox is idle: nothing due is pending and nothing is being
   * processed (by any instance). For tests, scripts and CLI use.
   *
   * @throws DrainTimeoutError when not idle within `timeoutMs` (default 30 s).
   */
  async drain(options: { timeoutMs?: number } = {}): Promise<DrainResult> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let totals: DrainResult = EMPTY;
    for (;;) {
      const result = await this.processBatch();
      totals = add(totals, result);
      const progressed = result.processed + result.retried + result.deadLettered > 0;
      if (progressed && Date.now() < deadline) continue;
      const busy = await this.busyCount();
      if (busy === 0) return totals;
      if (Date.now() >= deadline) throw new DrainTimeoutError(timeoutMs, busy);
      if (result.claimed > 0) continue;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Events due now or being processed. */
  private async busyCount(): Promise<number> {
    return this.repository.busyCount(this.options.database.root);
  }

  /** Counts by status, oldest due pending age, and this instance's totals. */
  async getStats(): Promise<ProcessorStats> {
    const stats = await this.repository.stats(this.options.database.root);
    return {
      ...stats,
      workerId: this.workerId,
      running: this.started,
      listening: this.listener?.listening ?? false,
      totals: this.totals,
    };
  }

  /**
   * Puts a dead-lettered event back to pending with its attempts reset.
   * @returns false when the event exists but is not a dead letter.
   * @throws InvalidEventIdError when `eventId` is not a UUID, before any SQL runs.
   * @throws EventNotFoundError when no event has this id.
   */
  async replay(eventId: string): Promise<boolean> {
    checkEventId(eventId);
    const root = this.options.database.root;
    const event = await this.repository.findById(root, eventId);
    if (!event) throw new EventNotFoundError(eventId);
    const replayed = await this.repository.replay(root, eventId);
    if (replayed) {
      this.logger.log(`Event ${eventId} (${event.name}) replayed from dead letter`);
      this.wake();
    }
    return replayed;
  }

  /**
   * Replays every dead letter matching `filter` (oldest first, at most `filter.limit`); returns
   * how many. Without `tenantId` it covers every tenant; `tenantId: null` only events without one.
   *
   * @throws InvalidQueryError for an unknown filter key (naming the closest known one), a
   *   non-string field or a `limit` that is not an integer from 1 to 2147483647, before any SQL runs.
   */
  async replayDeadLetters(filter: DeadLetterFilter = {}): Promise<number> {
    const checked = checkDeadLetterFilter(filter);
    const ids = await this.repository.replayDeadLetters(this.options.database.root, checked);
    if (ids.length) {
      this.logger.log(`Replayed ${ids.length} dead-lettered event(s)`);
      this.wake();
    }
    return ids.length;
  }

  /**
   * Events of one aggregate in publish order, with their delivery state. The tenant is part of
   * the aggregate's identity: without `options.tenantId` only events published without a
   * tenant are returned, never another tenant's.
   *
   * @throws InvalidQueryError for an empty or non-string type or id, or an unknown option.
   */
  async findEventsByAggregate(
    aggregateType: string,
    aggregateId: string,
    options: FindEventsByAggregateOptions = {},
  ): Promise<OutboxEventRecord[]> {
    const query = checkAggregateQuery(aggregateType, aggregateId, options);
    return this.repository.findByAggregate(
      this.options.database.root,
      query.aggregateType,
      query.aggregateId,
      query.tenantId,
    );
  }

  /**
   * Finds an event by id (any status); `undefined` when none has this id.
   * @throws InvalidEventIdError when `eventId` is not a UUID, before any SQL runs.
   */
  async findEvent(eventId: string): Promise<OutboxEventRecord | undefined> {
    checkEventId(eventId);
    return this.repository.findById(this.options.database.root, eventId);
  }

  /**
   * Deletes processed events older than `olderThanMs` in batches of `batchSize` (never one
   * unbounded DELETE); returns how many were deleted. Each argument defaults to
   * `processor.purge` and follows its rules.
   * @throws InvalidPurgeOptionsError before any SQL when an argument is invalid (e.g.
   * `batchSize: 0`, `olderThanMs` above `MAX_PURGE_AGE_MS`, an unknown key).
   */
  async purgeProcessed(
    options: { olderThanMs?: number; batchSize?: number } = {},
  ): Promise<number> {
    assertPurgeArguments(options);
    const { purge } = this.options.processor;
    const olderThanMs = options.olderThanMs ?? purge.olderThanMs;
    const batchSize = options.batchSize ?? purge.batchSize;
    let total = 0;
    for (;;) {
      const n = await this.repository.purgeProcessedBatch(
        this.options.database.root,
        olderThanMs,
        batchSize,
      );
      total += n;
      if (n < batchSize) break;
    }
    if (total) this.logger.log(`Purged ${total} processed event(s) older than ${olderThanMs} ms`);
    return total;
  }

  /** Test hook: the LISTEN connection, if any. */
  get notificationListener(): ListenHandle | undefined {
    return this.listener;
  }
}
