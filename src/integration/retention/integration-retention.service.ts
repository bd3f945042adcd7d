import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeDatabaseError } from '../database/database-error';
import { schemaLockKeys } from '../database/schema-lock-keys';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { OutboxRepository } from '../outbox/outbox.repository';
import { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';
import { RetentionRepository, RetentionTarget } from './retention.repository';
import { assertRetentionWindow } from './retention-window';

/** First key of the retention lock (`pg_try_advisory_xact_lock(int, int)`), 'RTNT'. */
export const RETENTION_LOCK_CLASS = 0x52544e54;

/** The two keys of the advisory lock of retention on `schema` (visible in `pg_locks`). */
export const retentionLockKeys = (schema: string): readonly [number, number] =>
  schemaLockKeys(RETENTION_LOCK_CLASS, schema);

/** What one retention round did. */
export interface RetentionRunResult {
  /** False when another instance held the retention lock: this round deleted nothing. */
  readonly ran: boolean;
  /** Finished events deleted (their deliveries went with them). */
  readonly events: number;
  /** `inbox_event` rows deleted. */
  readonly inbox: number;
  /** `integration_audit` rows deleted. */
  readonly audit: number;
  /** `integration_consumer_stats` rows deleted. */
  readonly stats: number;
  /** Dead-lettered deliveries deleted (only with `deadLetterRetentionMs`). */
  readonly deadLetters: number;
  /** True when a table still had old rows after `maxBatchesPerRun` batches (the next round goes on). */
  readonly more: boolean;
}

/** Rounds this instance ran and skipped since it started (for logs, tests and dashboards). */
export interface RetentionCounters {
  /** Rounds that held the lock and purged. */
  readonly runs: number;
  /** Rounds skipped because another instance held the lock. */
  readonly skipped: number;
  /** Rounds that failed (logged). */
  readonly failed: number;
}

/** Where the retention loop stands. */
enum RetentionState {
  Stopped = 'stopped',
  Running = 'running',
  Stopping = 'stopping',
}

/**
 * Keeps the module's tables bounded (`processor.purge`): on every instance whose processor runs,
 * a round each `intervalMs`; one instance at a time purges (a transaction-scoped advisory lock
 * keyed by the schema, held for the round), the others skip. A round deletes, in batches of
 * `batchSize` (one short transaction each, never one unbounded DELETE), finished events older
 * than `olderThanMs` with their deliveries, then `inbox_event`, `integration_audit` and
 * `integration_consumer_stats` rows past their retention, and dead letters past
 * `deadLetterRetentionMs` when set. Started and stopped by the processor; {@link runOnce} runs a
 * round by hand (a cron job, a test).
 */
@Injectable()
export class IntegrationRetention {
  private readonly logger = new Logger('IntegrationRetention');
  private state = RetentionState.Stopped;
  private round?: Promise<void>;
  private counts = { runs: 0, skipped: 0, failed: 0 };

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly outbox: OutboxRepository,
    private readonly repository: RetentionRepository,
    private readonly registry: EventSubscriberRegistry,
  ) {}

  /** Rounds run, skipped and failed since this instance started. */
  get counters(): RetentionCounters {
    return { ...this.counts };
  }

  /**
   * Checks the retention ages against the consumers' retry horizon. Called by the processor
   * before it starts anything, so a refused configuration fails the app's bootstrap.
   * @throws RetentionWindowTooShortError when an age is shorter than the horizon.
   */
  assertWindow(): void {
    assertRetentionWindow(this.options, this.registry);
  }

  /** Marks the loop running: {@link tick} starts rounds from now on. */
  start(): void {
    this.state = RetentionState.Running;
  }

  /** A timer's tick: starts a round unless one is still running. Never throws. */
  tick(): void {
    if (this.state !== RetentionState.Running || this.round) return;
    this.round = this.runOnce()
      .then(
        () => undefined,
        (error: unknown) => {
          this.counts.failed++;
          this.logger.error(`Retention round failed: ${describeDatabaseError(error)}`);
        },
      )
      .finally(() => {
        this.round = undefined;
      });
  }

  /** Stops starting rounds and waits for the one in flight (it stops after its current batch). */
  async stop(): Promise<void> {
    if (this.state === RetentionState.Stopped) return;
    this.state = RetentionState.Stopping;
    await this.round;
    this.state = RetentionState.Stopped;
  }

  /**
   * One round now, if this instance gets the retention lock (`ran: false` otherwise).
   * @throws when the database fails (the lock is released with its transaction).
   */
  async runOnce(): Promise<RetentionRunResult> {
    const { database, schema, processor } = this.options;
    const keys = retentionLockKeys(schema);
    // The lock lives in a transaction that does nothing else (it holds no snapshot between
    // statements, so it does not hold back vacuum); the batches commit on their own
    // connections, each a short transaction. A crash ends the transaction and frees the lock.
    const result = await database.transaction(
      async (_tx, sql) => {
        if (!(await this.repository.tryLock(sql, keys))) return undefined;
        return this.purgeAll();
      },
      { timeoutMs: Math.max(processor.purge.intervalMs, 600_000) },
    );
    if (!result) {
      this.counts.skipped++;
      this.logger.debug('Retention round skipped: another instance holds the retention lock');
      return { ran: false, events: 0, inbox: 0, audit: 0, stats: 0, deadLetters: 0, more: false };
    }
    this.counts.runs++;
    const total = result.events + result.inbox + result.audit + result.stats + result.deadLetters;
    if (total > 0) {
      this.logger.log(
        `Retention purged ${result.events} finished event(s), ${result.inbox} inbox row(s), ` +
          `${result.audit} audit row(s), ${result.stats} stats row(s), ${result.deadLetters} dead letter(s)` +
          (result.more ? ' (more next round)' : ''),
      );
    }
    return result;
  }

  private async purgeAll(): Promise<RetentionRunResult> {
    const { purge } = this.options.processor;
    const root = this.options.database.root;
    let more = false;
    const drain = async (batch: () => Promise<number>): Promise<number> => {
      let total = 0;
      for (let i = 0; i < purge.maxBatchesPerRun; i++) {
        if (this.state === RetentionState.Stopping) return total;
        const n = await batch();
        total += n;
        if (n < purge.batchSize) return total;
      }
      more = true;
      return total;
    };
    const target = (t: RetentionTarget, ageMs: number) => () =>
      this.repository.purgeBatch(root, t, ageMs, purge.batchSize);
    // Dead letters first: an event whose last dead letter goes now is finished, and goes next.
    const deadLetters =
      purge.deadLetterRetentionMs === null
        ? 0
        : await drain(target(RetentionTarget.DeadLetters, purge.deadLetterRetentionMs));
    const events = await drain(() =>
      this.outbox.purgeFinishedBatch(root, purge.olderThanMs, purge.batchSize),
    );
    const inbox = await drain(target(RetentionTarget.Inbox, purge.inboxRetentionMs));
    const audit = await drain(target(RetentionTarget.Audit, purge.auditRetentionMs));
    const stats = await drain(target(RetentionTarget.Stats, purge.statsRetentionMs));
    return { ran: true, events, inbox, audit, stats, deadLetters, more };
  }
}
