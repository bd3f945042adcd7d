/**
 * Whether a consumer gets deliveries. The one list of statuses: the SQL CHECK of
 * `integration_consumer.status` follows it.
 *
 * ```
 * active ──retire (explicit: its unfinished deliveries are skipped)──▶ retired
 * retired ──reactivate (events sequenced meanwhile are not delivered to it)──▶ active
 * ```
 */
export enum ConsumerStatus {
  /** The sequencer fans matching events out to it. */
  Active = 'active',
  /** Gets no new deliveries; its unfinished ones were skipped when it was retired. */
  Retired = 'retired',
}

/** A heartbeat older than this marks a host as not alive (`list`, the CLI). */
export const CONSUMER_HOST_ALIVE_MS = 60_000;

/** One instance hosting a consumer, as stored in `integration_consumer_host`. */
export interface ConsumerHostInfo {
  /** The instance's `processor.workerId`. */
  readonly workerId: string;
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
  /**
   * Age of the last heartbeat by the database's clock (so the clocks of the instances and of
   * the reader play no part).
   */
  readonly heartbeatAgeMs: number;
  /** The heartbeat is younger than {@link CONSUMER_HOST_ALIVE_MS}. */
  readonly alive: boolean;
}

/**
 * A consumer's unfinished deliveries by status. Processed and skipped ones are not counted:
 * counting them reads the consumer's whole history, while these three read partial indexes.
 */
export interface ConsumerDeliveryCounts {
  readonly pending: number;
  readonly processing: number;
  readonly deadLetter: number;
}

/** A consumer as the cluster knows it (`integration_consumer`), with its hosts and backlog. */
export interface ConsumerInfo {
  readonly name: string;
  /** Event patterns of its handlers, as last announced. */
  readonly patterns: readonly string[];
  readonly status: ConsumerStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** When it was retired; null while active. */
  readonly retiredAt: Date | null;
  /** Instances that announced it and have not removed themselves, by worker id. */
  readonly hosts: readonly ConsumerHostInfo[];
  readonly deliveries: ConsumerDeliveryCounts;
}

/** What announcing one consumer found. */
export interface AnnouncedConsumer {
  /** Its stored status: a retired consumer stays retired when announced. */
  readonly status: ConsumerStatus;
  /** The announcement created it (no instance had announced it before). */
  readonly created: boolean;
  /** Its stored patterns differed from the announced ones (now replaced); false when created. */
  readonly patternsChanged: boolean;
}

/** What retiring a consumer did. */
export interface RetireConsumerResult {
  /** False when it was retired already (its unfinished deliveries are skipped all the same). */
  readonly retired: boolean;
  /** Deliveries moved from pending, processing or dead_letter to skipped. */
  readonly skipped: number;
}
