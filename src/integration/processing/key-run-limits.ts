import { Inject, Injectable } from '@nestjs/common';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';

/** Weight of one delivery's outcome in a consumer's failure rate (about the last 10–20 count). */
const OUTCOME_WEIGHT = 0.1;

/**
 * How many deliveries of one ordering key each consumer claims at once (its run), adapted to
 * how often the consumer's handlers fail.
 *
 * When a delivery fails, the later deliveries of its key in the same batch cannot run (order)
 * and are given back unrun: a released claim, two row writes for nothing. The longer the runs a
 * consumer claims, the more each failure gives back; with many events per key in the backlog,
 * a consumer failing one attempt in five gave back about two deliveries per event. So a
 * consumer's runs are capped at about half the expected distance between two failures:
 * `round(1 / (2 × failure rate))`, at least 1. Without failures nothing is capped (a run may
 * fill the batch).
 *
 * The failure rate is an exponentially weighted average over the consumer's recent outcomes in
 * this instance (processed counts 0, failed 1; each outcome weighs a tenth), so each instance
 * adapts to what it sees. It remembers about the last ten outcomes: one failure caps the
 * consumer's runs at 5, and the cap lifts after some forty successes in a row (with a batch
 * size of 100). Held per processor, in memory; nothing global.
 */
@Injectable()
export class KeyRunLimits {
  /** Per consumer, the weighted share of its recent outcomes that were failures. */
  private readonly failureRates = new Map<string, number>();

  constructor(@Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions) {}

  /**
   * Records what a consumer's deliveries of one cycle did: `succeeded` processed, `failed`
   * failed (retried or dead-lettered). Deliveries that did not run are not outcomes.
   */
  record(consumer: string, succeeded: number, failed: number): void {
    const outcomes = succeeded + failed;
    if (outcomes === 0) return;
    // As if the outcomes came one by one, each weighing OUTCOME_WEIGHT: the old rate keeps
    // (1 − w)^n of its weight, the cycle's own rate takes the rest.
    const kept = (1 - OUTCOME_WEIGHT) ** outcomes;
    const rate = (this.failureRates.get(consumer) ?? 0) * kept + (failed / outcomes) * (1 - kept);
    if (this.limitOf(rate) === undefined) this.failureRates.delete(consumer);
    else this.failureRates.set(consumer, rate);
  }

  /**
   * The run limit of each of `consumers` that has one now (consumers without a limit are
   * absent): at most that many deliveries of one ordering key in one claim.
   */
  limits(consumers: readonly string[]): Record<string, number> {
    const limits: Record<string, number> = {};
    for (const consumer of consumers) {
      const limit = this.limitOf(this.failureRates.get(consumer) ?? 0);
      if (limit !== undefined) limits[consumer] = limit;
    }
    return limits;
  }

  /** The run limit for a failure rate; `undefined` when it would not be below the batch size. */
  private limitOf(rate: number): number | undefined {
    const { batchSize } = this.options.processor;
    if (rate <= 0) return undefined;
    const limit = Math.max(1, Math.round(1 / (2 * rate)));
    return limit < batchSize ? limit : undefined;
  }
}
