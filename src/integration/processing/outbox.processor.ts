import {
  Inject,
  Injectable,
  Logger,
  type BeforeApplicationShutdown,
  type OnApplicationBootstrap,
} from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { ConsumerDirectory } from '../consumers/consumer-directory.service';
import { describeDatabaseError } from '../database/database-error';
import type { ListenHandle } from '../database/sql-executor';
import { DrainTimeoutError } from '../errors/drain-timeout.error';
import {
  DEFAULT_PURGE_INTERVAL_NAME,
  DEFAULT_STATS_INTERVAL_NAME,
  INTEGRATION_OPTIONS,
} from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { ClaimBackoff } from './claim-backoff';
import {
  addBatchResults,
  DeliveryPipeline,
  EMPTY_BATCH_RESULT,
  type BatchResult,
  type ClaimedBatch,
  type DeliverNowResult,
} from './delivery-pipeline';
import { DeliveryRepository } from './delivery.repository';
import { EventSequencer } from './event-sequencer.repository';
import { IntegrationLifecycle } from './integration-lifecycle';
import { ProcessorTimers } from './processor-timers';
import { ConsumerStatsRecorder } from '../retention/consumer-stats.recorder';
import { IntegrationRetention } from '../retention/integration-retention.service';
import { TableStatistics } from './table-statistics';
import { FollowUpPoll } from './follow-up-poll';
import { startWakeListener } from './wake-listener';

/** Where the processor's lifecycle stands. The one piece of state its methods branch on. */
export enum ProcessorState {
  /** Not started, or stopped: no loop, no timer, no LISTEN. Manual cycles still work. */
  Stopped = 'stopped',
  /** Polling and listening; cycles run when woken. */
  Running = 'running',
  /** `stop()` is waiting for in-flight batches: nothing new starts. */
  Stopping = 'stopping',
}

/** Totals of a {@link OutboxProcessor.drain}: the batch counts plus how many batches. */
export interface DrainResult extends BatchResult {
  readonly batches: number;
}

/**
 * What a cycle of the loop does next to get work.
 * - `SequenceAndClaim`: one sequencer run that claims the deliveries it creates when a claim
 *   could take them, so an event just committed is one statement away from its handlers (and
 *   a backlog waiting for the sequencer is claimed without a second write per delivery). When
 *   it claimed none, a plain claim.
 * - `Claim`: a plain claim, after a batch the sequencer run claimed while other due deliveries
 *   may be waiting (retries, events sequenced by another instance, expired leases).
 */
enum CycleStep {
  SequenceAndClaim = 'sequence-and-claim',
  Claim = 'claim',
}

/**
 * The delivery loop's lifecycle: start (announce this instance's
 * consumers, LISTEN, the poll interval), run cycles when woken — a NOTIFY, the poll, or a full
 * batch — up to `processor.concurrency` batches at once, and stop (wait for in-flight batches,
 * release what is left, remove this instance's host rows). Each cycle is the
 * {@link DeliveryPipeline}'s: sequence, claim, run, settle.
 */
@Injectable()
export class OutboxProcessor implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger('OutboxProcessor');
  private stateValue = ProcessorState.Stopped;
  /** The running loop, if any (at most one). */
  private loopPromise?: Promise<void>;
  /** A wake-up arrived while the loop ran: it goes round again. */
  private wakeRequested = false;
  /** Resolves the loop's wait for in-flight batches when a wake-up arrives. */
  private onWake?: () => void;
  /** Batches and claims in flight (what {@link stop} waits for). */
  private readonly inflight = new Set<Promise<unknown>>();
  private listener?: ListenHandle;
  private readonly timers: ProcessorTimers;
  private readonly backoff: ClaimBackoff;
  private readonly followUp: FollowUpPoll;
  /** The consumers this instance delivers to, once announced. */
  private hosted?: readonly string[];
  /** The last sequencer run stopped at its limit: committed events are still waiting for it. */
  private sequencerBehind = false;
  /** The sequencer runs in the background to catch up with a backlog (see {@link sequenceAhead}). */
  private sequencingAhead = false;
  /** Asked for while the background sequencer ran: it runs once more before it stops. */
  private sequenceAgain = false;
  /**
   * A sequencer run of this instance fanned out an event with a tenant. Only then does it
   * sequence ahead (see {@link sequenceAhead}), which serves fairness across tenants alone:
   * without tenants it would only create deliveries pending that the loop's own run creates
   * claimed (a second write of each; about a quarter of a three-consumer drain's rate).
   */
  private tenantsSeen = false;
  /**
   * The loop's batches in flight (at most `processor.concurrency`), each with whether it is
   * full (`batchSize` deliveries).
   */
  private readonly batches = new Map<Promise<void>, boolean>();
  /**
   * The tenant lane's batch in flight, beside the loop's (see {@link sequenceAheadOnce}): one
   * at a time.
   */
  private laneBatch?: Promise<void>;
  /**
   * `Date.now()` from which a batch the sequencer run claimed is followed by a plain claim
   * anyway (one poll interval after the last one): retries that came due, deliveries
   * sequenced by another instance and expired leases wait at most that long under a steady
   * stream of new events.
   */
  private claimDueAt = 0;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly pipeline: DeliveryPipeline,
    private readonly directory: ConsumerDirectory,
    private readonly deliveries: DeliveryRepository,
    private readonly sequencer: EventSequencer,
    private readonly lifecycle: IntegrationLifecycle,
    private readonly retention: IntegrationRetention,
    private readonly stats: ConsumerStatsRecorder,
    private readonly statistics: TableStatistics,
    moduleRef: ModuleRef,
  ) {
    this.timers = new ProcessorTimers(moduleRef);
    const { processor } = options;
    this.backoff = new ClaimBackoff(processor.idlePollIntervalMs);
    this.followUp = new FollowUpPoll(processor.followUpPollMs, processor.idlePollIntervalMs, () =>
      this.wake(),
    );
  }

  /** The lease owner recorded on claimed deliveries. */
  get workerId(): string {
    return this.options.processor.workerId;
  }

  /** Where the lifecycle stands. */
  get state(): ProcessorState {
    return this.stateValue;
  }

  /** True while the LISTEN connection is up. */
  get listening(): boolean {
    return this.listener?.listening ?? false;
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.options.processor.enabled) await this.start();
    else this.logger.log('Outbox processor disabled (processor.enabled: false)');
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.stop();
  }

  /** Starts polling, LISTEN and the consumers' heartbeat; with `startupDrain`, runs at once. */
  async start(): Promise<void> {
    if (this.stateValue !== ProcessorState.Stopped) return;
    const { processor } = this.options;
    // Refused before anything starts: the app's bootstrap fails with the reason.
    if (processor.purge.enabled) this.retention.assertWindow();
    this.timers.open();
    this.stateValue = ProcessorState.Running;
    this.listener = await startWakeListener(this.options, () => this.wake(), this.logger, {
      onUp: (reconnected) => this.lifecycle.emit({ type: 'listener.up', reconnected }),
      onDown: (error, retryInMs) =>
        this.lifecycle.emit({ type: 'listener.down', error, retryInMs }),
    });
    this.timers.add(processor.intervalName, () => this.wake(), processor.idlePollIntervalMs);
    if (processor.purge.enabled) {
      this.retention.start();
      this.timers.add(
        `${DEFAULT_PURGE_INTERVAL_NAME}:${processor.intervalName}`,
        () => this.retention.tick(),
        processor.purge.intervalMs,
      );
    }
    if (processor.stats.enabled) {
      this.stats.start();
      this.timers.add(
        `${DEFAULT_STATS_INTERVAL_NAME}:${processor.intervalName}`,
        () => this.stats.tick(),
        processor.stats.flushIntervalMs,
      );
    }
    // Announced now so the cluster knows this instance's consumers at once; after a failure
    // (database down at boot) the first cycle announces them.
    await this.hostedConsumers().catch((error: unknown) =>
      this.logger.warn(
        `Could not announce this instance's consumers yet: ${describeDatabaseError(error)}`,
      ),
    );
    this.directory.startHeartbeat(Math.max(processor.idlePollIntervalMs, 5_000));
    this.logger.log(
      `Outbox processor ${this.workerId} started (batch ${processor.batchSize}, lease ${processor.leaseMs} ms, ` +
        `poll ${processor.idlePollIntervalMs} ms${this.listening ? ', LISTEN on' : ''})`,
    );
    this.lifecycle.emit({ type: 'processor.started', workerId: this.workerId });
    if (processor.startupDrain) this.wake();
  }

  /**
   * Stops claiming, waits up to `shutdownTimeoutMs` for in-flight batches, then releases what
   * this instance still holds so another instance takes it at once.
   */
  async stop(): Promise<void> {
    if (this.stateValue !== ProcessorState.Running) return;
    this.stateValue = ProcessorState.Stopping;
    this.timers.clear();
    this.followUp.stop();
    await this.listener?.close();
    this.listener = undefined;
    const { shutdownTimeoutMs } = this.options.processor;
    const work = Promise.allSettled([...this.inflight, this.loopPromise ?? Promise.resolve()]);
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      work.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), shutdownTimeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (!finished) {
      const released = await this.deliveries
        .releaseAll(this.options.database.root, this.workerId)
        .catch(() => 0);
      this.logger.warn(
        `Shutdown timeout (${shutdownTimeoutMs} ms) with work in flight: released ${released} claimed deliveries`,
      );
    }
    // After the batches settled: the recorder's last write counts them.
    await Promise.all([this.retention.stop(), this.stats.stop()]);
    await this.directory.stop();
    this.hosted = undefined;
    this.stateValue = ProcessorState.Stopped;
    this.logger.log(`Outbox processor ${this.workerId} stopped`);
    this.lifecycle.emit({ type: 'processor.stopped', workerId: this.workerId });
  }

  /**
   * Asks the loop to run now (coalesced: at most one loop, which goes round again if asked
   * meanwhile). When the processor is saturated (see {@link saturated}) and has seen tenants,
   * the sequencer also runs now, in the background: new events cannot be claimed before a slot
   * frees, but then they are sequenced already, and the claim takes them fairly across tenants
   * instead of after everything committed first.
   */
  wake(): void {
    this.wakeLoop();
    if (this.loopPromise && this.tenantsSeen && this.saturated()) this.sequenceAhead();
  }

  /**
   * Every batch slot holds a full batch: the handlers are behind what is committed. Only then
   * does a wake-up sequence ahead. Below that, the loop's own sequencer run, when a slot frees,
   * creates the new deliveries already claimed in one statement; sequencing them ahead would
   * create them pending, to be claimed by a second statement, and contend with that run for
   * the sequencer (at 2,000 events/s at the defaults, p50 commit → handler start went from
   * 7–9 ms to 28–68 ms when every wake-up while both slots were busy sequenced ahead).
   */
  private saturated(): boolean {
    const { concurrency } = this.options.processor;
    if (this.batches.size < concurrency) return false;
    for (const full of this.batches.values()) if (!full) return false;
    return true;
  }

  private wakeLoop(): void {
    if (this.stateValue !== ProcessorState.Running) return;
    if (this.loopPromise) {
      this.wakeRequested = true;
      this.onWake?.();
      return;
    }
    this.loopPromise = this.loop()
      .then((found) => {
        if (this.stateValue === ProcessorState.Running) this.followUp.ended(found);
      })
      .finally(() => {
        this.loopPromise = undefined;
      });
  }

  /** True while started (running or stopping). */
  get isRunning(): boolean {
    return this.stateValue !== ProcessorState.Stopped;
  }

  /**
   * One cycle by hand (scripts, tests): sequence, claim one batch, run and settle it.
   * Works whether or not the loop runs.
   */
  async processBatch(): Promise<BatchResult> {
    return this.track(
      (async () => {
        const hosted = await this.hostedConsumers();
        await this.pipeline.sequence();
        const batch = await this.pipeline.claim(hosted);
        return this.pipeline.complete(batch, () => this.isStopping());
      })(),
    );
  }

  /**
   * Runs one consumer's delivery of one event now, whatever its due time, and settles it (after
   * announcing this instance's consumers, so the event is fanned out to them): a redelivery by
   * hand, for test kits and tools. See {@link DeliveryPipeline.deliverNow}.
   */
  async deliverNow(eventId: string, consumer: string): Promise<DeliverNowResult> {
    await this.hostedConsumers();
    return this.track(this.pipeline.deliverNow(eventId, consumer));
  }

  /**
   * Runs cycles until nothing is left for this instance's consumers: no committed event waits
   * for the sequencer, no delivery of theirs is due or leased. For tests, scripts and the CLI.
   *
   * @throws DrainTimeoutError when not idle within `timeoutMs` (default 30 s).
   */
  async drain(options: { timeoutMs?: number } = {}): Promise<DrainResult> {
    const timeoutMs = options.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let totals: DrainResult = { ...EMPTY_BATCH_RESULT, batches: 0 };
    for (;;) {
      const result = await this.processBatch();
      totals = {
        ...addBatchResults(totals, result),
        batches: totals.batches + (result.claimed > 0 ? 1 : 0),
      };
      if (result.claimed > 0 && Date.now() < deadline) continue;
      const busy = await this.busyCount();
      if (busy === 0) return totals;
      if (Date.now() >= deadline) throw new DrainTimeoutError(timeoutMs, busy);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Events waiting for the sequencer plus due or leased deliveries of the hosted consumers. */
  private async busyCount(): Promise<number> {
    const root = this.options.database.root;
    const [unsequenced, deliveries] = await Promise.all([
      this.sequencer.pendingCount(root),
      this.deliveries.busyCount(root, await this.hostedConsumers()),
    ]);
    return unsequenced + deliveries;
  }

  private isStopping(): boolean {
    return this.stateValue === ProcessorState.Stopping;
  }

  /** Announces this instance's consumers once (again after a failure); returns the active ones. */
  private async hostedConsumers(): Promise<readonly string[]> {
    const hosted = this.hosted ?? (await this.directory.announceHosted());
    this.hosted = hosted;
    return hosted;
  }

  /**
   * Cycles while batches come back full, up to `processor.concurrency` batches at once: a new
   * batch is claimed as soon as a slot is free (the claim skips keys with a delivery in
   * flight, so per-key order holds). Returns when nothing more was found and every batch it
   * started is settled: true when it claimed or sequenced anything (a follow-up poll is due).
   */
  private async loop(): Promise<boolean> {
    const { batchSize, concurrency } = this.options.processor;
    const running = this.batches; // shared with wake(): is every slot taken by a full batch?
    let found = false;
    do {
      this.wakeRequested = false;
      let failed = false;
      let step = CycleStep.SequenceAndClaim;
      for (;;) {
        while (running.size >= concurrency) await Promise.race(running.keys());
        if (this.isStopping() || failed || this.backoff.paused) break;
        let batch: ClaimedBatch;
        let claimNext: boolean;
        let sequenced: boolean;
        try {
          ({ batch, claimNext, sequenced } = await this.track(this.claimStep(step)));
        } catch (error) {
          const { failures, delayMs } = this.backoff.failed();
          this.logger.error(
            `Outbox claim failed (${failures} in a row): ${describeDatabaseError(error)}; next claim in ${delayMs} ms`,
          );
          break;
        }
        const ended = this.backoff.succeeded();
        if (ended > 0) this.logger.log(`Outbox claims succeed again after ${ended} failure(s)`);
        if (sequenced) found = true;
        if (batch.deliveries.length === 0) break;
        found = true;
        if (this.isStopping()) {
          await this.pipeline.release(batch);
          break;
        }
        const work: Promise<void> = this.track(
          this.pipeline.complete(batch, () => this.isStopping()),
        ).then(
          () => undefined,
          (error: unknown) => {
            failed = true;
            this.logger.error(`Outbox batch failed: ${describeDatabaseError(error)}`);
          },
        );
        running.set(work, batch.deliveries.length >= batchSize);
        void work.then(() => running.delete(work));
        if (batch.deliveries.length >= batchSize || this.sequencerBehind)
          step = CycleStep.SequenceAndClaim;
        else if (claimNext) step = CycleStep.Claim;
        else break;
      }
      // Let in-flight batches finish, unless a wake-up may bring work for a free slot sooner.
      while (running.size > 0 && !this.wakeRequested && !this.isStopping()) {
        await Promise.race([
          ...running.keys(),
          new Promise<void>((resolve) => (this.onWake = resolve)),
        ]);
        this.onWake = undefined;
      }
    } while (this.wakeRequested && !this.isStopping());
    await Promise.all(running.keys());
    return found;
  }

  /**
   * Claims the cycle's next batch. `claimNext`: the batch came from the sequencer run itself,
   * and other due deliveries may be waiting for a plain claim: the run left some of its own
   * pending, or the last plain claim is a poll interval old. A run that claimed nothing but
   * stopped at its limit runs again at once (the events it fanned out are other instances'
   * work, or wait behind their keys), until it claims something or has caught up.
   * `sequenced`: a sequencer run of this step fanned out events.
   */
  private async claimStep(
    step: CycleStep,
  ): Promise<{ batch: ClaimedBatch; claimNext: boolean; sequenced: boolean }> {
    const hosted = await this.hostedConsumers();
    let sequenced = false;
    if (step === CycleStep.SequenceAndClaim && this.sequencerBehind && this.tenantsSeen) {
      // A backlog waits for the sequencer: it fans it out in the background, and the claims
      // take (fairly across tenants) from what is sequenced meanwhile. Without tenants the
      // runs below claim what they fan out, one batch after another.
      this.sequenceAhead();
      return { batch: await this.plainClaim(hosted), claimNext: false, sequenced };
    }
    if (step === CycleStep.SequenceAndClaim) {
      for (;;) {
        const run = await this.pipeline.sequenceOnceAndClaim(hosted);
        this.sequencerBehind = run.more;
        if (run.tenanted) this.tenantsSeen = true;
        if (run.events > 0) {
          sequenced = true;
          this.takeFirstStatistics();
        }
        if (run.batch.deliveries.length > 0) {
          return {
            batch: run.batch,
            claimNext: run.leftPending || Date.now() >= this.claimDueAt,
            sequenced,
          };
        }
        if (!run.more || this.isStopping()) break;
      }
    }
    return { batch: await this.plainClaim(hosted), claimNext: false, sequenced };
  }

  /**
   * Runs the sequencer in the background, one bounded run after another, waking the loop after
   * each run that fanned out events; until it has caught up (a run below its limit, with no
   * call for another since it began) or another instance is sequencing. Called, once this
   * instance has seen tenants, while a backlog waits for the sequencer and on wake-ups while the
   * processor is saturated. An event is
   * sequenced only after every event committed before it, so the sequencer must outrun the
   * handlers for claims to interleave tenants fairly: sequencing and claiming in one statement
   * would move it at the handlers' pace, and an event committed behind another tenant's backlog
   * (or flood) would wait for all of it to be handled.
   */
  private sequenceAhead(): void {
    this.sequenceAgain = true;
    if (this.sequencingAhead) return;
    this.sequencingAhead = true;
    void this.track(
      (async () => {
        try {
          while (this.sequenceAgain && !this.isStopping()) {
            this.sequenceAgain = false;
            const run = await this.sequenceAheadOnce();
            if (run.tenanted) this.tenantsSeen = true;
            if (run.events > 0) {
              this.takeFirstStatistics();
              this.wakeLoop();
            }
            if (run.more) this.sequenceAgain = true;
          }
        } catch (error) {
          this.logger.warn(`Sequencing ahead failed: ${describeDatabaseError(error)}`);
        } finally {
          this.sequencingAhead = false;
          this.sequenceAgain = false;
          this.sequencerBehind = false;
        }
      })(),
    );
  }

  /**
   * One background sequencer run. While no lane batch is in flight, the run claims the tenant
   * lane's deliveries (light tenants' events it fans out ahead of a flood's window), and they
   * run at once as the lane batch, beside the loop's `processor.concurrency` batches: those
   * hold the flood's deliveries, and a quiet tenant's event would otherwise wait for one of
   * them to free its slot. The lane's events are few by construction (a tenth of the lane's
   * scan per tenant at most), so this adds one small batch in flight, not a flood's.
   */
  private async sequenceAheadOnce(): Promise<{
    events: number;
    more: boolean;
    tenanted: boolean;
  }> {
    if (this.laneBatch) return this.pipeline.sequenceOnce();
    const run = await this.pipeline.sequenceOnceAndClaimLane(await this.hostedConsumers());
    const { batch } = run;
    if (batch.deliveries.length === 0) return run;
    if (this.isStopping()) {
      await this.pipeline.release(batch);
      return run;
    }
    const work: Promise<void> = this.track(
      this.pipeline.complete(batch, () => this.isStopping()),
    ).then(
      () => undefined,
      (error: unknown) =>
        this.logger.error(`Outbox lane batch failed: ${describeDatabaseError(error)}`),
    );
    this.laneBatch = work;
    void work.finally(() => {
      if (this.laneBatch === work) this.laneBatch = undefined;
    });
    return run;
  }

  /**
   * A claim from everything sequenced. A full batch leaves a backlog behind: the next batch a
   * sequencer run claims (a new event) is then followed by a plain claim at once, not a poll
   * interval later.
   */
  private async plainClaim(hosted: readonly string[]): Promise<ClaimedBatch> {
    const batch = await this.pipeline.claim(hosted);
    this.claimDueAt =
      batch.deliveries.length >= this.options.processor.batchSize
        ? 0
        : Date.now() + this.options.processor.idlePollIntervalMs;
    return batch;
  }

  /**
   * While the tables that grow with events have no statistics yet, analyzes those that have
   * outgrown the plans made when they were new (see {@link TableStatistics}); in the background,
   * and waited for by {@link stop}.
   */
  private takeFirstStatistics(): void {
    if (!this.statistics.settled) void this.track(this.statistics.refresh());
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
}
