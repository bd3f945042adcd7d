import type { Logger } from '@nestjs/common';
import { errorMessage } from '../utils/describe';
import { isTransactionConflict, MAX_CONFLICT_RETRIES } from './transaction-conflict';

/**
 * The re-runs one unit of work may spend on deadlocks and serialization failures (a consumer's
 * batch or event in the runners, a message in `InboxService.runOnce`): up to
 * {@link MAX_CONFLICT_RETRIES} in all, none counted as an attempt. After that such a failure is
 * an ordinary one.
 */
export class ConflictBudget {
  private used = 0;

  constructor(private readonly logger: Logger) {}

  /** Whether `error` is a conflict that may still be re-run (without spending the re-run). */
  covers(error: unknown): boolean {
    return this.used < MAX_CONFLICT_RETRIES && isTransactionConflict(error);
  }

  /**
   * When `error` is a conflict and re-runs are left: spends one, logs it, waits a short
   * jittered pause and returns true (run the transaction again). Otherwise false.
   */
  async rerunAfter(error: unknown): Promise<boolean> {
    if (!this.covers(error)) return false;
    const retry = ++this.used;
    this.logger.warn(
      `transaction hit ${errorMessage(error)}; running it again (retry ${retry} of ` +
        `${MAX_CONFLICT_RETRIES}, no attempt counted)`,
    );
    // Jittered, so that the transactions that collided do not collide again in lockstep.
    await new Promise((resolve) => setTimeout(resolve, retry * (5 + Math.random() * 20)));
    return true;
  }
}
