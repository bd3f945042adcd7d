import type { IntegrationEvent } from '../events/integration-event';

/**
 * Where one (event, consumer) delivery stands. The one list of statuses: the SQL CHECK of
 * `integration_delivery.status`, the settle statement and the admin queries follow it.
 *
 * ```
 * pending ──claim──▶ processing ──handler's transaction commits──▶ processed
 *    ▲                   │ ──failed, attempts left──▶ pending (available_at = now + backoff)
 *    └──release──────────┤ ──failed, no attempt left──▶ dead_letter ──replay──▶ pending
 *                        └ ──lease expired──▶ claimed again (or dead_letter when no attempt left)
 * pending | processing | dead_letter ──consumer retired / discard──▶ skipped
 * ```
 */
export enum DeliveryStatus {
  /** Waiting for its consumer: due at `availableAt`. */
  Pending = 'pending',
  /** Leased by one instance (`lockedBy`) until `lockedUntil`. */
  Processing = 'processing',
  /** The consumer's handlers ran; with a transaction, their writes committed with this status. */
  Processed = 'processed',
  /** Failed its last allowed attempt: waits for a replay. */
  DeadLetter = 'dead_letter',
  /** Will not be delivered (the consumer was retired, or an operator discarded it). */
  Skipped = 'skipped',
}

/** Statuses after which a delivery is never claimed again (unless replayed). */
export const FINISHED_DELIVERY_STATUSES: readonly DeliveryStatus[] = [
  DeliveryStatus.Processed,
  DeliveryStatus.DeadLetter,
  DeliveryStatus.Skipped,
];

/** One consumer's delivery of one event, as stored. */
export interface DeliveryRecord {
  readonly eventId: string;
  readonly consumer: string;
  /** The event's place in commit order (the same for all its consumers), as a decimal string. */
  readonly position: string;
  readonly orderingKey: string;
  readonly status: DeliveryStatus;
  /** Attempts started so far (the current one included while processing). */
  readonly attemptCount: number;
  /** Claims so far, released ones included (claims per delivery measure churn). */
  readonly claimCount: number;
  readonly availableAt: Date;
  readonly lockedBy: string | null;
  readonly lockedUntil: Date | null;
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly processedAt: Date | null;
}

/** A delivery as the claim returns it: leased to this instance, with its event. */
export interface ClaimedDelivery {
  readonly eventId: string;
  readonly consumer: string;
  readonly position: string;
  readonly orderingKey: string;
  /** This claim's attempt number (1 for the first); fences every later write of this claim. */
  readonly attempt: number;
  /** The previous attempt's lease expired unsettled (its worker crashed or stalled). */
  readonly leaseExpired: boolean;
  /** The last recorded error, when an earlier attempt failed. */
  readonly lastError: string | null;
  /** The event, as published. */
  readonly event: IntegrationEvent;
}

/**
 * What a runner reports for one claimed delivery: facts only. The settle policy decides what
 * happens next.
 */
export type DeliveryFact =
  /** The handlers ran and (with a transaction) committed together with the processed mark. */
  | { readonly kind: 'handled'; readonly durationMs: number }
  /** A handler (or the transaction around it) failed; nothing of this attempt committed. */
  | { readonly kind: 'failed'; readonly error: string; readonly durationMs: number }
  /** Not started: an earlier delivery of its key failed in this batch, or the processor is stopping. */
  | { readonly kind: 'not-started' }
  /** The processed mark found the lease gone (another instance owns the delivery): nothing committed. */
  | { readonly kind: 'lease-lost' };

/** The kinds of {@link DeliveryFact}. */
export type DeliveryFactKind = DeliveryFact['kind'];

/**
 * What the settle policy decided for one delivery. `none`: nothing to write (already processed
 * inside the handler's transaction, or the lease is someone else's now).
 */
export type SettleDecision =
  | { readonly action: 'none' }
  /** Mark processed now (consumers without a transaction: after the handler succeeded). */
  | { readonly action: 'processed' }
  | { readonly action: 'retry'; readonly delayMs: number; readonly error: string }
  | { readonly action: 'dead-letter'; readonly error: string }
  /** Back to pending at once, the attempt not counted. */
  | { readonly action: 'release' };

/** A settle decision addressed to one claim (fenced by worker and attempt). */
export interface SettleInstruction {
  readonly eventId: string;
  readonly consumer: string;
  readonly attempt: number;
  readonly decision: Exclude<SettleDecision, { action: 'none' }>;
}
