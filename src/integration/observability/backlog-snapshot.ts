import { Inject, Injectable } from '@nestjs/common';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { DeliveryRepository, type ConsumerBacklog } from '../processing/delivery.repository';

/** Each backlog count stops here: a gauge reads "at least this many" beyond it. */
export const BACKLOG_COUNT_CAP = 100_000;

/** The due wait is read among each consumer's next this many deliveries in line. */
export const BACKLOG_LOOKAHEAD = 1_000;

/** A snapshot younger than this is served from memory. */
export const BACKLOG_SNAPSHOT_MAX_AGE_MS = 2_000;

/**
 * Every active consumer's backlog ({@link ConsumerBacklog}), read with one bounded statement
 * and kept for {@link BACKLOG_SNAPSHOT_MAX_AGE_MS}: metrics scrapes and health checks share it,
 * and however often they come, the database sees at most one read per interval (concurrent
 * callers wait for the same read). Never per event.
 */
@Injectable()
export class BacklogSnapshot {
  private last?: { readonly at: number; readonly read: Promise<readonly ConsumerBacklog[]> };

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly deliveries: DeliveryRepository,
  ) {}

  /**
   * The backlog, at most `maxAgeMs` old.
   * @throws the database's error when the read fails (the next call reads again).
   */
  async read(maxAgeMs = BACKLOG_SNAPSHOT_MAX_AGE_MS): Promise<readonly ConsumerBacklog[]> {
    const now = Date.now();
    if (this.last && now - this.last.at <= maxAgeMs) return this.last.read;
    const read = this.deliveries.backlog(this.options.database.root, {
      cap: BACKLOG_COUNT_CAP,
      lookahead: BACKLOG_LOOKAHEAD,
    });
    const entry = { at: now, read };
    this.last = entry;
    // A failed read is not kept: the next caller tries again.
    read.catch(() => {
      if (this.last === entry) this.last = undefined;
    });
    return read;
  }
}
