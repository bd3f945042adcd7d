import { Inject, Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import type { TransactionSqlExecutor } from '../../database/sql-executor';
import { INTEGRATION_OPTIONS } from '../../integration.constants';
import type { ResolvedIntegrationOptions } from '../../integration.options';
import { errorMessage } from '../../utils/describe';
import { DeliveryMark } from '../delivery-mark';
import type { DeliveryFact } from '../delivery.types';
import { HandlerInvoker, type HandlerOutcome } from '../handler-invoker';
import { ConflictBudget } from '../../subscribers/conflict-budget';
import type { ConsumerBatch, ConsumerRunner } from './consumer-runner';
import { FactLedger } from './fact-ledger';
import { runInKeyLanes } from './key-lanes';
import {
  consumerTransactionTimeout,
  runInSavepoint,
  runTransaction,
  type ScopedResult,
} from './transaction-scope';

/** A handler failure seen by the first pass. */
interface FirstPassFailure {
  readonly index: number;
  readonly error: unknown;
  readonly durationMs: number;
}

/** What the handlers of the first pass did (inside its transaction). */
interface HandlersRun {
  /** Deliveries whose handlers all succeeded, with their durations. */
  readonly ran: ReadonlyMap<number, number>;
  /** The first timed-out handler: the transaction must be abandoned. */
  readonly timedOut?: FirstPassFailure;
  /**
   * The failure to blame on one delivery; undefined with lanes, where one failed statement
   * aborts the transaction for every lane and the first lane to fail cannot be told.
   */
  readonly blamed?: FirstPassFailure;
  /** Every error seen (conflicts are looked for among them). */
  readonly errors: readonly unknown[];
}

/** How the first pass ended. */
type FirstPass =
  | { readonly kind: 'committed'; readonly ran: ReadonlyMap<number, number> }
  /** Rolled back: run the batch again, a SAVEPOINT per delivery (`failed` already decided). */
  | { readonly kind: 'isolate'; readonly failed?: FirstPassFailure }
  | { readonly kind: 'timed-out'; readonly failed: FirstPassFailure }
  /** Rolled back: the processor began stopping before any delivery ran. */
  | { readonly kind: 'stopped' }
  | { readonly kind: 'conflict'; readonly error: unknown }
  /** The transaction itself failed (a statement of ours, COMMIT, its timeout). */
  | { readonly kind: 'transaction-failed'; readonly error: unknown };

/** How the isolated pass ended. */
type IsolatedPass =
  | { readonly kind: 'committed' }
  | { readonly kind: 'timed-out'; readonly failed: FirstPassFailure }
  | { readonly kind: 'conflict'; readonly error: unknown }
  /** A SAVEPOINT or ROLLBACK TO failed at delivery `index`: the transaction was unusable. */
  | { readonly kind: 'broken'; readonly index: number; readonly error: unknown };

/** What one delivery's savepoint did in the isolated pass. */
type SavepointWork = HandlerOutcome | { readonly kind: 'lease-lost' };

/** What the first pass learned before its transaction ended, whatever way it ended. */
interface FirstPassProgress {
  /** Deliveries whose handlers began, with their durations once they ended. */
  readonly started: Map<number, number | undefined>;
}

const LEASE_LOST: DeliveryFact = { kind: 'lease-lost' };

/**
 * The runner of `transactional: 'batch'` consumers (the default): all of a consumer's
 * deliveries of a batch in one transaction.
 *
 * 1. First pass, optimistic: the handlers run without savepoints, in order, or in lanes of
 *    ordering keys when `concurrency` > 1 on a pipelining adapter; then one statement marks
 *    every delivery processed (fenced). All succeeded and all marked: commit.
 * 2. A handler failed, or the mark came back short (a lease was lost): roll back and run the
 *    batch again in one transaction with a SAVEPOINT per delivery (mark, then handlers); a
 *    failure or a lost lease blocks its key, the others commit. The delivery the first pass
 *    blamed is not run twice.
 *
 * A timed-out handler may still use the transaction: it is abandoned whole (that delivery
 * `failed`, nothing committed, the rest `not-started`). A deadlock or serialization failure
 * runs the pass again ({@link ConflictBudget}).
 */
@Injectable()
export class BatchRunner implements ConsumerRunner {
  /** Consumers already warned that their concurrency cannot apply. */
  private readonly unpipelinedWarned = new Set<string>();

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly invoker: HandlerInvoker,
    private readonly mark: DeliveryMark,
  ) {}

  async run(batch: ConsumerBatch): Promise<DeliveryFact[]> {
    const ledger = new FactLedger(batch);
    if (batch.deliveries.length === 0 || batch.isStopping()) return ledger.result();
    const conflicts = new ConflictBudget(this.invoker.loggerFor(batch.consumer));

    const progress = (): FirstPassProgress => ({ started: new Map() });
    let attempt = progress();
    let first = await this.firstPass(batch, conflicts, attempt);
    while (first.kind === 'conflict') {
      await conflicts.rerunAfter(first.error);
      attempt = progress();
      first = await this.firstPass(batch, conflicts, attempt);
    }
    switch (first.kind) {
      case 'committed':
        for (const [i, durationMs] of first.ran) ledger.record(i, { kind: 'handled', durationMs });
        return ledger.result();
      case 'stopped':
        return ledger.result();
      case 'timed-out':
        ledger.record(first.failed.index, failedFact(first.failed));
        return ledger.result();
      case 'transaction-failed':
        for (const [i, durationMs] of attempt.started) {
          ledger.record(i, {
            kind: 'failed',
            error: `Transaction failed: ${errorMessage(first.error)}`,
            durationMs: durationMs ?? 0,
          });
        }
        return ledger.result();
      case 'isolate':
        if (first.failed) ledger.record(first.failed.index, failedFact(first.failed));
        return this.isolatedPass(batch, ledger, conflicts);
    }
  }

  /**
   * The optimistic pass: handlers without savepoints, then one mark statement for all of them,
   * one commit. The mark comes last so that the first handler starts at once (one round trip
   * sooner); a delivery whose lease was lost meanwhile makes the mark come back short, and the
   * whole pass rolls back: the isolated pass, which marks each delivery before its handlers,
   * sorts out which lost it.
   */
  private async firstPass(
    batch: ConsumerBatch,
    conflicts: ConflictBudget,
    progress: FirstPassProgress,
  ): Promise<FirstPass> {
    const run = await runTransaction(
      this.options.database,
      consumerTransactionTimeout(this.options.processor, batch.deliveries.length),
      async (tx, sql): Promise<ScopedResult<FirstPass>> => {
        const all = batch.deliveries.map((_, i) => i);
        const handlers = await this.runHandlers(batch, all, tx, progress);
        if (handlers.timedOut)
          return { end: 'rollback', value: { kind: 'timed-out', failed: handlers.timedOut } };
        const conflict = handlers.errors.find((e) => conflicts.covers(e));
        if (conflict !== undefined)
          return { end: 'rollback', value: { kind: 'conflict', error: conflict } };
        if (handlers.errors.length > 0)
          return { end: 'rollback', value: { kind: 'isolate', failed: handlers.blamed } };
        // All ran, or the processor began stopping: what ran commits (per key a prefix, since
        // no delivery starts once stopping), the rest is released with nothing done.
        if (handlers.ran.size === 0) return { end: 'rollback', value: { kind: 'stopped' } };
        const ran = batch.deliveries.filter((_, i) => handlers.ran.has(i));
        const marked = await this.mark.mark(sql, batch.workerId, ran);
        if (marked.size < ran.length) return { end: 'rollback', value: { kind: 'isolate' } };
        return { end: 'commit', value: { kind: 'committed', ran: handlers.ran } };
      },
    );
    if (run.kind !== 'failed') return run.value;
    // E.g. a serialization failure at COMMIT, or a deadlock on the mark statement.
    if (conflicts.covers(run.error)) return { kind: 'conflict', error: run.error };
    return { kind: 'transaction-failed', error: run.error };
  }

  /**
   * The first pass's handlers: in order, or in lanes of ordering keys. After a failure no new
   * delivery starts, and this returns only once every running handler has finished (none may
   * touch the transaction after it ends), except a timed-out one, which cannot be waited for.
   */
  private async runHandlers(
    batch: ConsumerBatch,
    runnable: readonly number[],
    tx: unknown,
    progress: FirstPassProgress,
  ): Promise<HandlersRun> {
    const ran = new Map<number, number>();
    const errors: unknown[] = [];
    let timedOut: FirstPassFailure | undefined;
    let firstFailure: FirstPassFailure | undefined;
    const workers = await runInKeyLanes(
      batch,
      runnable,
      this.concurrencyOf(batch),
      async (i) => {
        const delivery = batch.deliveries[i]!;
        progress.started.set(i, undefined);
        const outcome = await this.invoker.invoke(delivery, batch.handlersOf(delivery), tx);
        progress.started.set(i, outcome.durationMs);
        if (outcome.kind === 'succeeded') {
          ran.set(i, outcome.durationMs);
          return;
        }
        const failure = { index: i, error: outcome.error, durationMs: outcome.durationMs };
        errors.push(outcome.error);
        firstFailure ??= failure;
        if (outcome.timedOut) timedOut ??= failure;
      },
      () => errors.length > 0 || batch.isStopping(),
    );
    return { ran, errors, timedOut, blamed: workers === 1 ? firstFailure : undefined };
  }

  /**
   * The isolated pass: one transaction, a SAVEPOINT per delivery not yet decided (its mark,
   * then its handlers). Run again from `decided` after a conflict.
   */
  private async isolatedPass(
    batch: ConsumerBatch,
    decided: FactLedger,
    conflicts: ConflictBudget,
  ): Promise<DeliveryFact[]> {
    for (;;) {
      const ledger = decided.copy();
      // Deliveries whose handlers succeeded in this transaction: handled once it commits.
      const handled = new Map<number, number>();
      const run = await runTransaction(
        this.options.database,
        consumerTransactionTimeout(this.options.processor, batch.deliveries.length),
        async (tx, sql): Promise<ScopedResult<IsolatedPass>> => {
          for (let i = 0; i < batch.deliveries.length; i++) {
            if (ledger.has(i) || !ledger.mayStart(i)) continue;
            const stop = await this.runIsolated(batch, i, tx, sql, ledger, handled, conflicts);
            if (stop) return { end: 'rollback', value: stop };
          }
          return { end: 'commit', value: { kind: 'committed' } };
        },
      );
      const transactionFailed = (error: unknown, extra?: number): DeliveryFact[] => {
        const fact = (durationMs: number): DeliveryFact => ({
          kind: 'failed',
          error: `Transaction failed: ${errorMessage(error)}`,
          durationMs,
        });
        for (const [i, durationMs] of handled) ledger.record(i, fact(durationMs));
        if (extra !== undefined) ledger.record(extra, fact(0));
        return ledger.result();
      };
      if (run.kind === 'failed') {
        if (await conflicts.rerunAfter(run.error)) continue;
        return transactionFailed(run.error);
      }
      const end = run.value;
      switch (end.kind) {
        case 'committed':
          for (const [i, durationMs] of handled) ledger.record(i, { kind: 'handled', durationMs });
          return ledger.result();
        case 'conflict':
          // The budget covered it when the savepoint was abandoned, and nothing spent it since.
          await conflicts.rerunAfter(end.error);
          continue;
        case 'timed-out':
          // What ran in this transaction (`handled`) rolled back with it: not started.
          ledger.record(end.failed.index, failedFact(end.failed));
          return ledger.result();
        case 'broken':
          return transactionFailed(end.error, end.index);
      }
    }
  }

  /**
   * Delivery `i` in its own SAVEPOINT: mark, then handlers. Records its fact in `ledger` (or
   * its duration in `handled`); returns why the whole transaction must end, if it must.
   */
  private async runIsolated(
    batch: ConsumerBatch,
    i: number,
    tx: unknown,
    sql: TransactionSqlExecutor,
    ledger: FactLedger,
    handled: Map<number, number>,
    conflicts: ConflictBudget,
  ): Promise<Exclude<IsolatedPass, { kind: 'committed' }> | undefined> {
    const delivery = batch.deliveries[i]!;
    const started = performance.now();
    const step = await runInSavepoint(sql, async (): Promise<ScopedResult<SavepointWork>> => {
      const marked = await this.mark.mark(sql, batch.workerId, [delivery]);
      if (!marked.has(delivery.eventId)) return { end: 'commit', value: { kind: 'lease-lost' } };
      const outcome = await this.invoker.invoke(delivery, batch.handlersOf(delivery), tx);
      if (outcome.kind === 'succeeded') return { end: 'commit', value: outcome };
      // A timed-out handler may still use the transaction; and rolling back to the savepoint
      // after a conflict would keep the locks taken before it, which the other transaction may
      // be waiting for: abandon the whole transaction in both cases.
      const abandon = outcome.timedOut || conflicts.covers(outcome.error);
      return { end: abandon ? 'abandon' : 'rollback', value: outcome };
    });
    switch (step.kind) {
      case 'released':
        if (step.value.kind === 'succeeded') handled.set(i, step.value.durationMs);
        else ledger.record(i, LEASE_LOST);
        return undefined;
      case 'rolled-back':
      case 'abandoned': {
        const value = step.value;
        if (value.kind !== 'failed') return undefined; // only failures roll back
        const failure = { index: i, error: value.error, durationMs: value.durationMs };
        if (step.kind === 'rolled-back') {
          ledger.record(i, failedFact(failure));
          return undefined;
        }
        return value.timedOut
          ? { kind: 'timed-out', failed: failure }
          : { kind: 'conflict', error: value.error };
      }
      case 'failed':
        // The mark statement, or the RELEASE after a handler that swallowed an SQL error.
        if (conflicts.covers(step.error)) return { kind: 'conflict', error: step.error };
        ledger.record(i, {
          kind: 'failed',
          error: errorMessage(step.error),
          durationMs: performance.now() - started,
        });
        return undefined;
      case 'broken':
        return { kind: 'broken', index: i, error: step.error };
    }
  }

  /** A consumer's effective concurrency: 1 unless the adapter pipelines (warned once). */
  private concurrencyOf(batch: ConsumerBatch): number {
    const wanted = batch.settings.concurrency;
    if (wanted <= 1 || this.options.database.pipelining) return wanted;
    if (!this.unpipelinedWarned.has(batch.consumer)) {
      this.unpipelinedWarned.add(batch.consumer);
      this.invoker
        .loggerFor(batch.consumer)
        .warn(
          `concurrency ${wanted} has no effect with the ${this.options.database.kind} adapter: its statements ` +
            'are not pipelined, so events run one at a time. Use pgAdapter on a pg Pool created with ' +
            '{ pipeline: true } (pg 8.23+), or drop the option.',
        );
    }
    return 1;
  }
}

/** The fact of a handler failure. */
function failedFact(failure: FirstPassFailure): DeliveryFact {
  return { kind: 'failed', error: errorMessage(failure.error), durationMs: failure.durationMs };
}
