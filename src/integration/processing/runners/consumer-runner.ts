import type { RegisteredHandler } from '../../subscribers/handler.types';
import type { ResolvedConsumerOptions } from '../../subscribers/consumer-options';
import type { ClaimedDelivery, DeliveryFact } from '../delivery.types';

/** One consumer's claimed deliveries, handed to the runner of its transactional mode. */
export interface ConsumerBatch {
  readonly consumer: string;
  readonly settings: ResolvedConsumerOptions;
  /** The claiming instance: the processed mark is fenced by it (and by each attempt). */
  readonly workerId: string;
  /** This consumer's deliveries only, in commit order (position order). */
  readonly deliveries: readonly ClaimedDelivery[];
  /** The consumer's handlers of a delivery's event, in the order they run; never empty here. */
  handlersOf(delivery: ClaimedDelivery): readonly RegisteredHandler[];
  /** True once the processor is stopping: what has not begun is left `not-started`. */
  isStopping(): boolean;
}

/**
 * Runs a consumer's batch and reports what happened: one {@link DeliveryFact} per delivery, in
 * the order of `batch.deliveries`. Reports facts only (the settle policy decides what follows)
 * and never throws for a handler's or a transaction's failure: those are facts.
 *
 * Rules every runner keeps: the deliveries of one ordering key run in order; after one of them
 * fails (or its lease is lost), the key's later deliveries of the batch are `not-started`; once
 * `batch.isStopping()`, nothing new begins.
 */
export interface ConsumerRunner {
  run(batch: ConsumerBatch): Promise<DeliveryFact[]>;
}
