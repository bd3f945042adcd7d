import { Inject, Injectable } from '@nestjs/common';
import { performance } from 'node:perf_hooks';
import { INTEGRATION_OPTIONS } from '../../integration.constants';
import type { ResolvedIntegrationOptions } from '../../integration.options';
import { errorMessage } from '../../utils/describe';
import { DeliveryMark } from '../delivery-mark';
import type { ClaimedDelivery, DeliveryFact } from '../delivery.types';
import { HandlerInvoker, type HandlerOutcome } from '../handler-invoker';
import { ConflictBudget } from '../../subscribers/conflict-budget';
import type { ConsumerBatch, ConsumerRunner } from './consumer-runner';
import { FactLedger } from './fact-ledger';
import { consumerTransactionTimeout, runTransaction } from './transaction-scope';

/** What one transaction of a delivery did. */
type DeliveryRun = HandlerOutcome | { readonly kind: 'lease-lost' };

/**
 * The runner of `transactional: 'per-event'` consumers: one transaction per delivery, in which
 * the delivery is marked processed (fenced by worker and attempt) and then its handlers run;
 * their effects and the mark commit together or not at all. A transaction that hits a deadlock
 * or serialization failure runs again (see {@link ConflictBudget}).
 */
@Injectable()
export class PerEventRunner implements ConsumerRunner {
  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly invoker: HandlerInvoker,
    private readonly mark: DeliveryMark,
  ) {}

  async run(batch: ConsumerBatch): Promise<DeliveryFact[]> {
    const ledger = new FactLedger(batch);
    const conflicts = new ConflictBudget(this.invoker.loggerFor(batch.consumer));
    for (const [i, delivery] of batch.deliveries.entries()) {
      if (!ledger.mayStart(i)) continue;
      ledger.record(i, await this.runOne(batch, delivery, conflicts));
    }
    return ledger.result();
  }

  private async runOne(
    batch: ConsumerBatch,
    delivery: ClaimedDelivery,
    conflicts: ConflictBudget,
  ): Promise<DeliveryFact> {
    for (;;) {
      const started = performance.now();
      const run = await runTransaction(
        this.options.database,
        consumerTransactionTimeout(this.options.processor, 1),
        async (tx, sql) => {
          const marked = await this.mark.mark(sql, batch.workerId, [delivery]);
          if (!marked.has(delivery.eventId))
            return { end: 'commit', value: { kind: 'lease-lost' } as DeliveryRun };
          const outcome = await this.invoker.invoke(delivery, batch.handlersOf(delivery), tx);
          return { end: outcome.kind === 'succeeded' ? 'commit' : 'rollback', value: outcome };
        },
      );
      if (run.kind === 'committed') {
        const value = run.value;
        return value.kind === 'succeeded'
          ? { kind: 'handled', durationMs: value.durationMs }
          : { kind: 'lease-lost' };
      }
      const error = run.kind === 'failed' ? run.error : failureOf(run.value);
      if (await conflicts.rerunAfter(error)) continue;
      if (run.kind === 'rolled-back' && run.value.kind === 'failed')
        return { kind: 'failed', error: errorMessage(error), durationMs: run.value.durationMs };
      return {
        kind: 'failed',
        error: `Transaction failed: ${errorMessage(error)}`,
        durationMs: performance.now() - started,
      };
    }
  }
}

/** The error of a rolled-back run (only a failed handler asks for a rollback). */
function failureOf(run: DeliveryRun): unknown {
  return run.kind === 'failed' ? run.error : undefined;
}
