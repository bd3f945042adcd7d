import { Injectable } from '@nestjs/common';
import { errorMessage } from '../../utils/describe';
import type { DeliveryFact } from '../delivery.types';
import { HandlerInvoker } from '../handler-invoker';
import type { ConsumerBatch, ConsumerRunner } from './consumer-runner';
import { FactLedger } from './fact-ledger';

/**
 * The runner of `transactional: false` consumers: each delivery's handlers run with `ctx.tx`
 * undefined, one delivery after another, and nothing is marked here. A `handled` fact makes the
 * settle policy write `processed` afterwards, so a crash in between runs the handlers again:
 * at-least-once, for effects outside the database.
 */
@Injectable()
export class UntransactedRunner implements ConsumerRunner {
  constructor(private readonly invoker: HandlerInvoker) {}

  async run(batch: ConsumerBatch): Promise<DeliveryFact[]> {
    const ledger = new FactLedger(batch);
    for (const [i, delivery] of batch.deliveries.entries()) {
      if (!ledger.mayStart(i)) continue;
      const outcome = await this.invoker.invoke(delivery, batch.handlersOf(delivery), undefined);
      ledger.record(
        i,
        outcome.kind === 'succeeded'
          ? { kind: 'handled', durationMs: outcome.durationMs }
          : { kind: 'failed', error: errorMessage(outcome.error), durationMs: outcome.durationMs },
      );
    }
    return ledger.result();
  }
}
