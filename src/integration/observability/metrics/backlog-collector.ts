import { Logger } from '@nestjs/common';
import type { ConsumerBacklog } from '../../processing/delivery.repository';
import { errorMessage } from '../../utils/describe';
import type { BacklogSnapshot } from '../backlog-snapshot';

/**
 * The backlog the scrape-time gauges show, read through the shared {@link BacklogSnapshot} (one
 * bounded, cached statement however many gauges and scrapes ask). A failed read yields
 * `undefined` (the gauges then show no samples rather than stale ones) and is logged as a
 * warning once per streak of failures, so the other metrics of the scrape are unaffected.
 */
export class BacklogCollector {
  private readonly logger = new Logger('IntegrationMetrics');
  private failing = false;

  constructor(private readonly snapshot: BacklogSnapshot) {}

  /** The backlog per consumer, or `undefined` when it cannot be read now. */
  async read(): Promise<readonly ConsumerBacklog[] | undefined> {
    try {
      const backlog = await this.snapshot.read();
      if (this.failing) {
        this.failing = false;
        this.logger.log('Backlog metrics are readable again');
      }
      return backlog;
    } catch (error) {
      if (!this.failing) {
        this.failing = true;
        this.logger.warn(
          `Backlog metrics could not be read; their gauges are left out of scrapes until a read succeeds (logged once until then): ${errorMessage(error)}`,
        );
      }
      return undefined;
    }
  }
}
