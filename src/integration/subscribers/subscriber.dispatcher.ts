import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import {
  canRetry,
  computeBackoffDelay,
  resolveRetryPolicy,
  type RetryPolicy,
} from '../utils/retry';
import type { SqlExecutor } from '../database/sql-executor';
import { HandlerTimeoutError } from '../errors/handler-timeout.error';
import type { OutboxEventRecord } from '../events/integration-event';
import { InboxRepository, type InboxFailure } from '../inbox/inbox.repository';
import { InboxStatus } from '../inbox/inbox.types';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { IntegrationLinkService } from '../links/integration-link.service';
import {
  errorMessage,
  type DispatchContext,
  type DispatchOutcome,
  type EventDispatcher,
} from '../outbox/event-dispatcher';
import { EventSubscriberRegistry } from './event-subscriber.registry';
import type { HandlerContext, RegisteredHandler } from './handler.types';
import { immutableEvent } from './immutable-event';
import { isTransactionConflict, MAX_CONFLICT_RETRIES } from './transaction-conflict';

// Moved beside isTransactionConflict (the v2 runners share it); re-exported for the public barrel.
export { MAX_CONFLICT_RETRIES } from './transaction-conflict';

/** What one consumer did with one event of a batch. */
type ConsumerResult =
  | { readonly kind: 'done' }
  | { readonly kind: 'processed' }
  | { readonly kind: 'deferred' }
  | { readonly kind: 'failed'; readonly error: string };

/** One consumer's share of a batch. */
interface ConsumerWork {
  readonly consumer: string;
  /** Batch positions, in batch (publish) order. */
  readonly indices: number[];
}

/** Aborts a consumer's batch transaction (a timed-out handler may still hold it). */
class AbortBatch extends Error {
  constructor(
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super('consumer batch aborted');
  }
}

/** The optimistic batch hit a failure (or an already-marked event): run it again, isolated. */
class RetryIsolated extends Error {
  constructor() {
    super('consumer batch needs isolation');
  }
}

/** A deadlock or serialization failure: roll the consumer's transaction back and run it again. */
class ConflictRetry extends Error {
  constructor(override readonly cause: unknown) {
    super('consumer transaction hit a deadlock or serialization failure');
  }
}

/** What the savepoint-free first pass of a consumer batch ended with. */
type OptimisticResult =
  | { readonly kind: 'done'; readonly results: Map<number, ConsumerResult> }
  | { readonly kind: 'aborted'; readonly index: number; readonly error: unknown }
  | { readonly kind: 'isolate'; readonly failed?: { index: number; error: unknown } }
  /** A deadlock or serialization failure (only when asked to report them): run it again. */
  | { readonly kind: 'conflict'; readonly error: unknown };

/** What a first pass over a consumer's events did (inside its transaction). */
interface FirstPassRun {
  /** Events whose handlers all succeeded. */
  readonly ran: number[];
  /** The failure blamed on one event (its handler is not run again). */
  readonly failed?: { index: number; error: unknown };
  /** A failure was seen but could not be blamed on an event: rerun them all, isolated. */
  readonly unattributed?: boolean;
  /** Every error the lanes saw (unattributed failures only). */
  readonly errors?: readonly unknown[];
  /** A handler timed out: abandon the transaction. */
  readonly aborted?: AbortBatch;
}

/**
 * The default dispatcher: delivers each event to every consumer with a matching handler,
 * each consumer's effects committing with its own inbox row.
 *
 * Per consumer, `'batch'` mode runs all of its events of a claimed batch in one transaction,
 * with a SAVEPOINT per event (a failing event rolls back to it; the others commit together);
 * `'per-event'` uses one transaction per event; `false` none. Within a consumer, the events of
 * an ordering key run in order, and after a failure the key's later events are deferred.
 */
@Injectable()
export class SubscriberDispatcher implements EventDispatcher {
  private readonly loggers = new Map<string, Logger>();
  /** Payload fingerprints, computed once per event however many consumers it has. */
  private readonly payloadHashes = new WeakMap<OutboxEventRecord, string>();
  /** Consumers already warned that their concurrency cannot apply. */
  private readonly unpipelinedWarned = new Set<string>();

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly registry: EventSubscriberRegistry,
    private readonly inbox: InboxRepository,
    private readonly links: IntegrationLinkService,
  ) {}

  async dispatchBatch(
    events: readonly OutboxEventRecord[],
    context: DispatchContext,
  ): Promise<DispatchOutcome[]> {
    const plans = events.map((e) => this.registry.getHandlersByConsumer(e.name));
    const results: Map<string, ConsumerResult>[] = events.map(() => new Map());
    if (plans.every((p) => p.size === 0)) return events.map(() => ({ status: 'processed' }));

    // Only events the inbox may know (redeliveries, replays) need this read; a first delivery
    // straight from a claim does not.
    const known = events.filter((e) => e.hasInboxRecords !== false).map((e) => e.id);
    const done = new Set(
      (known.length ? await this.inbox.findByEvents(this.options.database.root, known) : [])
        .filter((r) => r.status !== InboxStatus.Failed)
        .map((r) => `${r.eventId}\u0000${r.consumer}`),
    );
    const work = new Map<string, ConsumerWork>();
    plans.forEach((plan, i) => {
      for (const consumer of plan.keys()) {
        if (done.has(`${events[i]!.id}\u0000${consumer}`)) {
          results[i]!.set(consumer, { kind: 'done' });
          continue;
        }
        if (!work.has(consumer)) work.set(consumer, { consumer, indices: [] });
        work.get(consumer)!.indices.push(i);
      }
    });

    const perConsumer = await Promise.all(
      [...work.values()].map(
        async (w) => [w.consumer, await this.runConsumer(w, events, plans, context)] as const,
      ),
    );
    const failures: InboxFailure[] = [];
    for (const [consumer, consumerResults] of perConsumer) {
      for (const [i, result] of consumerResults) {
        results[i]!.set(consumer, result);
        if (result.kind === 'failed')
          failures.push({ eventId: events[i]!.id, consumer, error: result.error });
      }
    }
    // Failures are recorded after (outside) the rolled-back work, in one statement.
    if (failures.length) {
      await this.inbox
        .markFailed(this.options.database.root, failures)
        .catch((error: unknown) =>
          this.logger('inbox').error(
            `Could not record ${failures.length} failure(s): ${errorMessage(error)}`,
          ),
        );
    }
    return events.map((event, i) => this.outcome(event, results[i]!));
  }

  /** Delivers one event to one consumer now, whatever its outbox status (replays, test kits). */
  async deliverTo(event: OutboxEventRecord, consumer: string): Promise<DispatchOutcome> {
    const plan = this.registry.getHandlersByConsumer(event.name);
    const context: DispatchContext = { workerId: 'direct', isStopping: () => false };
    const existing = plan.has(consumer)
      ? await this.inbox.find(this.options.database.root, event.id, consumer)
      : undefined;
    const result =
      plan.has(consumer) && (!existing || existing.status === InboxStatus.Failed)
        ? (await this.runConsumer({ consumer, indices: [0] }, [event], [plan], context)).get(0)!
        : ({ kind: 'done' } as const);
    if (result.kind === 'failed') {
      await this.inbox.markFailed(this.options.database.root, [
        { eventId: event.id, consumer, error: result.error },
      ]);
    }
    return this.outcome(event, new Map([[consumer, result]]));
  }

  private outcome(
    event: OutboxEventRecord,
    results: ReadonlyMap<string, ConsumerResult>,
  ): DispatchOutcome {
    const failed = [...results].filter(([, r]) => r.kind === 'failed') as [
      string,
      { kind: 'failed'; error: string },
    ][];
    if (failed.length) {
      let delayMs = Number.POSITIVE_INFINITY;
      let final = false;
      for (const [consumer] of failed) {
        const policy = this.retryPolicyOf(consumer);
        if (!canRetry(policy, event.attemptCount)) final = true;
        delayMs = Math.min(delayMs, computeBackoffDelay(policy, event.attemptCount));
      }
      return {
        status: 'failed',
        error: failed.map(([consumer, r]) => `[${consumer}] ${r.error}`).join('\n'),
        delayMs,
        final,
      };
    }
    if ([...results.values()].some((r) => r.kind === 'deferred')) return { status: 'deferred' };
    return { status: 'processed' };
  }

  /**
   * The attempts `event` is allowed: the largest `maxAttempts` among the consumers that handle
   * it (each consumer's `retry` over `processor.retry`), or `processor.retry.maxAttempts` when
   * none does. The processor dead-letters an event claimed beyond it without dispatching it.
   */
  maxAttempts(event: OutboxEventRecord): number {
    let allowed = 0;
    for (const consumer of this.registry.getHandlersByConsumer(event.name).keys())
      allowed = Math.max(allowed, this.retryPolicyOf(consumer).maxAttempts);
    return allowed || this.options.processor.retry.maxAttempts;
  }

  /** A consumer's retry policy: its handlers' `retry` merged over `processor.retry`. */
  private retryPolicyOf(consumer: string): RetryPolicy {
    const settings = this.registry.getConsumerSettings(consumer);
    return resolveRetryPolicy(settings?.retry, this.options.processor.retry);
  }

  private async runConsumer(
    work: ConsumerWork,
    events: readonly OutboxEventRecord[],
    plans: readonly ReadonlyMap<string, readonly RegisteredHandler[]>[],
    context: DispatchContext,
  ): Promise<Map<number, ConsumerResult>> {
    const mode = this.registry.getConsumerSettings(work.consumer)?.transactional ?? 'batch';
    const results = new Map<number, ConsumerResult>();
    // Per ordering key, the batch position of its first failed event: later events of the key
    // are deferred (order), earlier ones may still run.
    const failedKeys = new Map<string, number>();
    // Decides, in order, whether an event may start; records deferrals.
    const mayStart = (i: number): boolean => {
      const failedAt = failedKeys.get(events[i]!.orderingKey);
      if ((failedAt !== undefined && i > failedAt) || context.isStopping()) {
        results.set(i, { kind: 'deferred' });
        return false;
      }
      return true;
    };
    const fail = (i: number, error: unknown): void => {
      results.set(i, { kind: 'failed', error: errorMessage(error) });
      const key = events[i]!.orderingKey;
      failedKeys.set(key, Math.min(failedKeys.get(key) ?? i, i));
    };
    const handlersOf = (i: number): readonly RegisteredHandler[] =>
      plans[i]!.get(work.consumer) ?? [];
    // The consumer's own read-only copy of each event, made once whatever the passes and reruns.
    const views = new Map<number, OutboxEventRecord>();
    const viewOf = (i: number): OutboxEventRecord => {
      let view = views.get(i);
      if (!view) views.set(i, (view = immutableEvent(events[i]!)));
      return view;
    };
    let conflictsLeft = MAX_CONFLICT_RETRIES;
    const conflictPause = async (error: unknown): Promise<void> => {
      const retry = MAX_CONFLICT_RETRIES - --conflictsLeft;
      this.logger(work.consumer).warn(
        `transaction hit ${errorMessage(error)}; running it again (retry ${retry} of ` +
          `${MAX_CONFLICT_RETRIES}, no attempt counted)`,
      );
      // Jittered, so that the transactions that collided do not collide again in lockstep.
      await new Promise((resolve) => setTimeout(resolve, retry * (5 + Math.random() * 20)));
    };

    if (mode === 'batch') {
      // Fast path: no SAVEPOINT per event and one inbox statement for the whole batch. The
      // first handler failure rolls all of it back; the batch then runs again with a SAVEPOINT
      // per event and the failed event already decided (its handler is not called twice).
      const firstPass = () =>
        this.runOptimistic(work, events, viewOf, handlersOf, context, conflictsLeft > 0);
      let first = await firstPass();
      while (first.kind === 'conflict') {
        await conflictPause(first.error);
        first = await firstPass();
      }
      if (first.kind === 'done') return this.deferUndecided(work, first.results);
      if (first.kind === 'aborted') {
        fail(first.index, first.error);
        return this.deferUndecided(work, results);
      }
      if (first.failed) fail(first.failed.index, first.failed.error);
      const decided = new Map(results);
      const decidedKeys = new Map(failedKeys);
      for (;;) {
        const retryConflicts = conflictsLeft > 0;
        try {
          await this.options.database.transaction(
            async (tx, sql) => {
              for (const i of work.indices) {
                if (results.has(i) || !mayStart(i)) continue;
                // A timed-out handler may still use this transaction: abandon all of it.
                // Rolling back to the savepoint would keep the locks taken before it, which
                // the other transaction may be waiting for: run the whole transaction again.
                const abandon = (error: unknown): boolean =>
                  error instanceof HandlerTimeoutError ||
                  (retryConflicts && isTransactionConflict(error));
                let failed: { readonly error: unknown } | undefined;
                try {
                  await sql.savepoint(
                    async () => {
                      if (await this.claim(sql, events[i]!, work.consumer)) {
                        await this.runHandlers(
                          handlersOf(i),
                          viewOf(i),
                          this.context(tx, work.consumer, events[i]!),
                        );
                        results.set(i, { kind: 'processed' });
                      } else {
                        results.set(i, { kind: 'done' });
                      }
                    },
                    {
                      abandonOn: (error) => {
                        failed = { error };
                        return abandon(error);
                      },
                    },
                  );
                } catch (error) {
                  // SAVEPOINT or ROLLBACK TO itself failed: the transaction is unusable.
                  if (failed?.error !== error) throw error;
                  if (error instanceof HandlerTimeoutError) throw new AbortBatch(i, error);
                  if (abandon(error)) throw new ConflictRetry(error);
                  fail(i, error);
                }
              }
            },
            { timeoutMs: this.transactionTimeout(work.indices.length) },
          );
        } catch (error) {
          const conflict =
            error instanceof ConflictRetry
              ? error.cause
              : retryConflicts && isTransactionConflict(error)
                ? error
                : undefined;
          if (conflict === undefined) {
            this.undoBatch(work, results, error);
            break;
          }
          // Nothing of the rolled-back pass counts: back to what the first pass decided.
          results.clear();
          for (const [i, r] of decided) results.set(i, r);
          failedKeys.clear();
          for (const [key, i] of decidedKeys) failedKeys.set(key, i);
          await conflictPause(conflict);
          continue;
        }
        break;
      }
      return this.deferUndecided(work, results);
    }

    for (const i of work.indices) {
      if (!mayStart(i)) continue;
      const event = events[i]!;
      try {
        if (mode === 'per-event') {
          let ran: boolean;
          for (;;) {
            try {
              ran = await this.options.database.transaction(
                async (tx, sql) => {
                  if (!(await this.claim(sql, event, work.consumer))) return false;
                  await this.runHandlers(
                    handlersOf(i),
                    viewOf(i),
                    this.context(tx, work.consumer, event),
                  );
                  return true;
                },
                { timeoutMs: this.transactionTimeout(1) },
              );
            } catch (error) {
              if (conflictsLeft === 0 || !isTransactionConflict(error)) throw error;
              await conflictPause(error);
              continue;
            }
            break;
          }
          results.set(i, { kind: ran ? 'processed' : 'done' });
        } else {
          // transactional: false: at-least-once; the inbox mark follows the handler's success.
          const existing = await this.inbox.find(
            this.options.database.root,
            event.id,
            work.consumer,
          );
          if (existing && existing.status !== InboxStatus.Failed) {
            results.set(i, { kind: 'done' });
            continue;
          }
          await this.runHandlers(
            handlersOf(i),
            viewOf(i),
            this.context(undefined, work.consumer, event),
          );
          await this.claim(this.options.database.root, event, work.consumer);
          results.set(i, { kind: 'processed' });
        }
      } catch (error) {
        fail(i, error);
      }
    }
    return this.deferUndecided(work, results);
  }

  /**
   * Runs a consumer's events in one transaction without savepoints, then marks them all in
   * the inbox with one statement (an event already marked, e.g. by a concurrent delivery, rolls
   * the whole transaction back). Stops at the first failure, rolled back. With
   * `reportConflicts`, a deadlock or serialization failure is reported as such (`conflict`)
   * instead of being blamed on an event.
   */
  private async runOptimistic(
    work: ConsumerWork,
    events: readonly OutboxEventRecord[],
    viewOf: (i: number) => OutboxEventRecord,
    handlersOf: (i: number) => readonly RegisteredHandler[],
    context: DispatchContext,
    reportConflicts: boolean,
  ): Promise<OptimisticResult> {
    const concurrency = this.concurrencyOf(work.consumer);
    let failed: { index: number; error: unknown } | undefined;
    let ran: number[] = [];
    try {
      await this.options.database.transaction(
        async (tx, sql) => {
          const runEvent = (i: number): Promise<void> =>
            this.runHandlers(handlersOf(i), viewOf(i), this.context(tx, work.consumer, events[i]!));
          const run =
            concurrency > 1
              ? await this.runLanes(work, events, runEvent, context, concurrency)
              : await this.runInOrder(work, runEvent, context);
          ran = run.ran;
          if (run.aborted) throw run.aborted;
          if (reportConflicts) {
            const conflict = [run.failed?.error, ...(run.errors ?? [])].find(isTransactionConflict);
            if (conflict !== undefined) throw new ConflictRetry(conflict);
          }
          if (run.failed !== undefined || run.unattributed) {
            failed = run.failed;
            throw new RetryIsolated();
          }
          if (ran.length === 0) return;
          const claimed = await this.inbox.claimMany(
            sql,
            work.consumer,
            ran.map((i) => ({ eventId: events[i]!.id, payloadHash: this.payloadHash(events[i]!) })),
          );
          if (claimed.size !== ran.length) throw new RetryIsolated();
        },
        { timeoutMs: this.transactionTimeout(work.indices.length) },
      );
    } catch (error) {
      if (error instanceof RetryIsolated) return { kind: 'isolate', failed };
      if (error instanceof AbortBatch)
        return { kind: 'aborted', index: error.index, error: error.cause };
      if (error instanceof ConflictRetry) return { kind: 'conflict', error: error.cause };
      // E.g. a serialization failure at COMMIT, or a deadlock on the inbox statement.
      if (reportConflicts && isTransactionConflict(error)) return { kind: 'conflict', error };
      const results = new Map<number, ConsumerResult>();
      this.undoBatch(work, results, error);
      return { kind: 'done', results };
    }
    return {
      kind: 'done',
      results: new Map(ran.map((i) => [i, { kind: 'processed' }] as const)),
    };
  }

  /** The first pass one event at a time, in batch order; stops at the first failure. */
  private async runInOrder(
    work: ConsumerWork,
    runEvent: (i: number) => Promise<void>,
    context: DispatchContext,
  ): Promise<FirstPassRun> {
    const ran: number[] = [];
    for (const i of work.indices) {
      if (context.isStopping()) break;
      try {
        await runEvent(i);
      } catch (error) {
        if (error instanceof HandlerTimeoutError) return { ran, aborted: new AbortBatch(i, error) };
        return { ran, failed: { index: i, error } };
      }
      ran.push(i);
    }
    return { ran };
  }

  /**
   * The first pass with up to `concurrency` ordering keys at once: each key's events run in
   * order, one lane per key. After a failure no new event starts, and the pass returns only
   * once every running handler has finished (none may touch the transaction after it ends).
   * A failure is not blamed on an event here: one failed statement aborts the transaction for
   * every lane, so which lane failed first cannot be told reliably. The isolated pass runs
   * the batch again, one event at a time with a SAVEPOINT each, and blames the right one.
   */
  private async runLanes(
    work: ConsumerWork,
    events: readonly OutboxEventRecord[],
    runEvent: (i: number) => Promise<void>,
    context: DispatchContext,
    concurrency: number,
  ): Promise<FirstPassRun> {
    const lanes = new Map<string, number[]>();
    for (const i of work.indices) {
      const key = events[i]!.orderingKey;
      const lane = lanes.get(key);
      if (lane) lane.push(i);
      else lanes.set(key, [i]);
    }
    const queue = [...lanes.values()];
    const ran: number[] = [];
    const errors: unknown[] = [];
    let failed = false;
    let aborted: AbortBatch | undefined;
    const halted = (): boolean => failed || aborted !== undefined || context.isStopping();
    const worker = async (): Promise<void> => {
      for (let lane = queue.shift(); lane && !halted(); lane = queue.shift()) {
        for (const i of lane) {
          if (halted()) return;
          try {
            await runEvent(i);
          } catch (error) {
            if (error instanceof HandlerTimeoutError) aborted ??= new AbortBatch(i, error);
            else {
              failed = true;
              errors.push(error);
            }
            return;
          }
          ran.push(i);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
    if (aborted) return { ran, aborted };
    return failed ? { ran, unattributed: true, errors } : { ran };
  }

  /** A consumer's effective concurrency: 1 unless the adapter pipelines (warned once). */
  private concurrencyOf(consumer: string): number {
    const wanted = this.registry.getConsumerSettings(consumer)?.concurrency ?? 1;
    if (wanted <= 1 || this.options.database.pipelining) return wanted;
    if (!this.unpipelinedWarned.has(consumer)) {
      this.unpipelinedWarned.add(consumer);
      this.logger(consumer).warn(
        `concurrency ${wanted} has no effect with the ${this.options.database.kind} adapter: its statements ` +
          'are not pipelined, so events run one at a time. Use pgAdapter on a pg Pool created with ' +
          '{ pipeline: true } (pg 8.23+), or drop the option.',
      );
    }
    return 1;
  }

  /** After a consumer transaction failed: nothing of it committed. */
  private undoBatch(
    work: ConsumerWork,
    results: Map<number, ConsumerResult>,
    error: unknown,
  ): void {
    for (const [i, r] of results) {
      if (r.kind === 'processed' || r.kind === 'done') results.set(i, { kind: 'deferred' });
    }
    if (error instanceof AbortBatch) {
      results.set(error.index, { kind: 'failed', error: errorMessage(error.cause) });
      return;
    }
    for (const i of work.indices) {
      if (results.get(i)?.kind !== 'failed')
        results.set(i, { kind: 'failed', error: `Transaction failed: ${errorMessage(error)}` });
    }
  }

  /** An event this consumer never reached (abort, shutdown) is deferred, never settled as done. */
  private deferUndecided(
    work: ConsumerWork,
    results: Map<number, ConsumerResult>,
  ): Map<number, ConsumerResult> {
    for (const i of work.indices) if (!results.has(i)) results.set(i, { kind: 'deferred' });
    return results;
  }

  /**
   * Longest a consumer transaction may stay open (Prisma enforces it): the lease plus one
   * handler timeout per event, since the heartbeat keeps the lease alive meanwhile.
   */
  private transactionTimeout(events: number): number {
    const { leaseMs, handlerTimeoutMs } = this.options.processor;
    return Math.min(leaseMs + handlerTimeoutMs * events, 24 * 3_600_000);
  }

  private claim(sql: SqlExecutor, event: OutboxEventRecord, consumer: string): Promise<boolean> {
    return this.inbox.claim(sql, event.id, consumer, this.payloadHash(event));
  }

  private payloadHash(event: OutboxEventRecord): string {
    let hash = this.payloadHashes.get(event);
    if (hash === undefined) {
      hash = createHash('sha256').update(JSON.stringify(event.payload)).digest('hex');
      this.payloadHashes.set(event, hash);
    }
    return hash;
  }

  private context(tx: unknown, consumer: string, event: OutboxEventRecord): HandlerContext {
    return {
      tx,
      links: this.links.bind(tx),
      logger: this.logger(consumer),
      attempt: event.attemptCount,
      consumer,
    };
  }

  private async runHandlers(
    handlers: readonly RegisteredHandler[],
    event: OutboxEventRecord,
    ctx: HandlerContext,
  ): Promise<void> {
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
          `${handler.name} failed on ${event.name} ${event.id} (attempt ${ctx.attempt}): ${errorMessage(error)}`,
        );
        throw error;
      } finally {
        clearTimeout(timer);
      }
    }
  }

  private logger(consumer: string): Logger {
    let logger = this.loggers.get(consumer);
    if (!logger) {
      logger = new Logger(`Consumer ${consumer}`);
      this.loggers.set(consumer, logger);
    }
    return logger;
  }
}
