import { Inject, Injectable, Logger } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { VAULT_FAULT_RATE } from './vault-faults.constants';
import { VaultInjectedFaultError } from './vault-injected-fault.error';

/** What the injector needs to know of a handler call. */
export interface FaultSubject {
  /** The event being handled. */
  readonly eventId: string;
  /** The consumer handling it. */
  readonly consumer: string;
  /** The delivery's attempt number (1 for the first). */
  readonly attempt: number;
}

/**
 * **Test hook** (chaos tests): makes the vault consumers fail on purpose. `VAULT_FAULT_RATE`
 * (0 to 1, default 0 = off) is the probability that a handler throws after its writes, so the
 * writes must roll back with the delivery's processed mark and the delivery be retried.
 *
 * The decision is a hash of (consumer, event, attempt), not `Math.random()`: the same attempt
 * of a delivery fails every time it runs (a batch's isolated pass or a released delivery
 * claimed again sees the same outcome), and the next attempt decides afresh, so every delivery
 * succeeds eventually with probability 1 − rate^attempts.
 */
@Injectable()
export class VaultFaultInjector {
  private readonly logger = new Logger('VaultFaultInjector');

  constructor(@Inject(VAULT_FAULT_RATE) readonly rate: number) {
    if (rate > 0) this.logger.warn(`Fault injection on: vault handlers fail at rate ${rate}`);
  }

  /** Throws {@link VaultInjectedFaultError} for this attempt with probability `rate`. */
  afterWrites(subject: FaultSubject): void {
    if (this.rate <= 0) return;
    const digest = createHash('sha256')
      .update(`${subject.consumer}\u0000${subject.eventId}\u0000${subject.attempt}`)
      .digest();
    if (digest.readUInt32BE(0) / 2 ** 32 < this.rate) throw new VaultInjectedFaultError(subject);
  }
}
