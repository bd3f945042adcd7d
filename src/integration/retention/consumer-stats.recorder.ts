import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeDatabaseError } from '../database/database-error';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { IntegrationLifecycle } from '../processing/integration-lifecycle';
import type {
  IntegrationLifecycleEvent,
  IntegrationLifecycleObserver,
} from '../processing/lifecycle-events';
import { ConsumerStatsRepository, type ConsumerStatsRow } from './consumer-stats.repository';

const MINUTE_MS = 60_000;

/** One consumer's counts for its current minute: plain fields, updated in place. */
class StatsCell {
  processed = 0;
  retried = 0;
  deadLettered = 0;
  latencyMsSum = 0;
  latencyMsMax = 0;

  constructor(
    readonly consumer: string,
    public bucket: number,
  ) {}

  get empty(): boolean {
    return this.processed === 0 && this.retried === 0 && this.deadLettered === 0;
  }

  /** Its counts as a row, and zero them (same minute). */
  take(): ConsumerStatsRow {
    const row: ConsumerStatsRow = {
      bucket: this.bucket,
      consumer: this.consumer,
      processed: this.processed,
      retried: this.retried,
      deadLettered: this.deadLettered,
      latencyMsSum: this.latencyMsSum,
      latencyMsMax: this.latencyMsMax,
    };
    this.processed = this.retried = this.deadLettered = 0;
    this.latencyMsSum = this.latencyMsMax = 0;
    return row;
  }
}

/** Rows with the same (bucket, consumer) added into one (one statement may not update a row twice). */
function mergeRows(rows: readonly ConsumerStatsRow[]): ConsumerStatsRow[] {
  const merged = new Map<string, ConsumerStatsRow>();
  for (const row of rows) {
    const key = `${row.bucket}\u0000${row.consumer}`;
    const earlier = merged.get(key);
    merged.set(
      key,
      earlier
        ? {
            ...earlier,
            processed: earlier.processed + row.processed,
            retried: earlier.retried + row.retried,
            deadLettered: earlier.deadLettered + row.deadLettered,
            latencyMsSum: earlier.latencyMsSum + row.latencyMsSum,
            latencyMsMax: Math.max(earlier.latencyMsMax, row.latencyMsMax),
          }
        : row,
    );
  }
  return [...merged.values()];
}

/**
 * Counts this instance's settled deliveries per (consumer, minute) from the pipeline's
 * lifecycle events — processed, retried, dead-lettered, and the publish-to-settle latency of
 * the processed ones — and adds them every `processor.stats.flushIntervalMs` to its rows of
 * `integration_consumer_stats` (one statement per flush, never a write per delivery). Readers
 * (the admin overview) sum the instances. Started and stopped by the processor; the last
 * counts are written when it stops. A failed write keeps the counts for the next one.
 */
@Injectable()
export class ConsumerStatsRecorder implements IntegrationLifecycleObserver {
  private readonly logger = new Logger('ConsumerStatsRecorder');
  private readonly cells = new Map<string, StatsCell>();
  /** Counts of minutes that ended, or of a failed write, waiting for the next flush. */
  private closed: ConsumerStatsRow[] = [];
  private unsubscribe?: () => void;
  private flushing?: Promise<void>;
  private failing = false;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly lifecycle: IntegrationLifecycle,
    private readonly repository: ConsumerStatsRepository,
  ) {}

  /** Starts counting (no-op when already counting). */
  start(): void {
    this.unsubscribe ??= this.lifecycle.subscribe(this);
  }

  /** Counts a settled delivery; everything else is ignored. */
  onEvent(event: IntegrationLifecycleEvent): void {
    if (event.type !== 'delivery.settled') return;
    const action = event.decision.action;
    if (action === 'release') return;
    const now = Date.now();
    const bucket = now - (now % MINUTE_MS);
    const consumer = event.delivery.consumer;
    let cell = this.cells.get(consumer);
    if (!cell) {
      cell = new StatsCell(consumer, bucket);
      this.cells.set(consumer, cell);
    } else if (cell.bucket !== bucket) {
      if (!cell.empty) this.closed.push(cell.take());
      cell.bucket = bucket;
    }
    if (action === 'retry') cell.retried++;
    else if (action === 'dead-letter') cell.deadLettered++;
    else {
      // 'processed' or 'none' (marked processed in the handler's transaction).
      cell.processed++;
      const latency = now - event.delivery.event.createdAt.getTime();
      if (latency > 0) {
        cell.latencyMsSum += latency;
        if (latency > cell.latencyMsMax) cell.latencyMsMax = latency;
      }
    }
  }

  /** A timer's tick: writes the counts unless a write is still running. Never throws. */
  tick(): void {
    if (this.flushing || !this.unsubscribe) return;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  /** Stops counting and writes what was counted (waits for a write in flight first). */
  async stop(): Promise<void> {
    if (!this.unsubscribe) return;
    this.unsubscribe();
    this.unsubscribe = undefined;
    await this.flushing;
    await this.flush();
  }

  /** Adds the counts so far to this instance's rows, in one statement; keeps them on failure. */
  async flush(): Promise<void> {
    const rows = this.closed;
    this.closed = [];
    for (const cell of this.cells.values()) if (!cell.empty) rows.push(cell.take());
    if (rows.length === 0) return;
    const merged = mergeRows(rows);
    try {
      await this.repository.add(
        this.options.database.root,
        this.options.processor.workerId,
        merged,
      );
      if (this.failing) this.logger.log('Consumer stats are written again');
      this.failing = false;
    } catch (error) {
      this.closed = merged.concat(this.closed);
      if (!this.failing) {
        this.logger.warn(
          `Could not write consumer stats (kept for the next write): ${describeDatabaseError(error)}`,
        );
      }
      this.failing = true;
    }
  }
}
