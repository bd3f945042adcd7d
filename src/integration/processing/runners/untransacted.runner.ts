import { Injectable } from '@nestjs/common';
import { errorMessage } from '../../utils/describe';
import type { DeliveryFact } from '../delivery.types';
import { HandlerInvoker } from '../handler-invoker';
import type { ConsumerBatch, ConsumerRunner } from './consumer-runner';
import { FactLedger } from './fact-ledger';
import { runInKeyLanes } from './key-lanes';

/**
 * The runner of `transactional: false` consumers: each delivery's handlers run with `ctx.tx`
 * undefined, and nothing is marked here. A `handled` fact makes the settle policy write
 * `processed` afterwards, so a crash in between runs the handlers again: at-least-once, for
 * effects outside the database.
 *
 * Deliveries run one after another, or with `concurrency` > 1 up to that many ordering keys at
 * once (no transaction is shared, so any adapter can), each key's deliveries in order. A failure
 * leaves its key's later deliveries `not-started`; the other keys go on.
 */
@Injectable()
export class UntransactedRunner implements ConsumerRunner {
  constructor(private readonly invoker: HandlerInvoker) {}

  async run(batch: ConsumerBatch): Promise<DeliveryFact[]> {
    const ledger = new FactLedger(batch);
    await runInKeyLanes(
      batch,
      batch.deliveries.map((_, i) => i),
      batch.settings.concurrency,
      async (i) => {
        if (!ledger.mayStart(i)) return;
        const delivery = batch.deliveries[i]!;
        const outcome = await this.invoker.invoke(delivery, batch.handlersOf(delivery), undefined);
        if (outcome.kind === 'succeeded') {
          ledger.record(i, { kind: 'handled', durationMs: outcome.durationMs });
        } else {
          ledger.record(i, {
            kind: 'failed',
            error: errorMessage(outcome.error),
            durationMs: outcome.durationMs,
          });
        }
      },
      () => batch.isStopping(),
    );
    return ledger.result();
  }
}
