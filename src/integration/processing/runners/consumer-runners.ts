import { Injectable } from '@nestjs/common';
import type { TransactionMode } from '../../subscribers/handler.types';
import { BatchRunner } from './batch.runner';
import type { ConsumerRunner } from './consumer-runner';
import { PerEventRunner } from './per-event.runner';
import { UntransactedRunner } from './untransacted.runner';

/**
 * Picks the runner of a consumer's transactional mode: THE one place that maps a
 * {@link TransactionMode} to its {@link ConsumerRunner}. Adding a mode means a new runner file
 * (`runners/<mode>.runner.ts`), its provider, and one line here.
 */
@Injectable()
export class ConsumerRunners {
  constructor(
    private readonly batch: BatchRunner,
    private readonly perEvent: PerEventRunner,
    private readonly untransacted: UntransactedRunner,
  ) {}

  /** The runner of `mode`. */
  runnerFor(mode: TransactionMode): ConsumerRunner {
    switch (mode) {
      case 'batch':
        return this.batch;
      case 'per-event':
        return this.perEvent;
      case false:
        return this.untransacted;
    }
  }
}
