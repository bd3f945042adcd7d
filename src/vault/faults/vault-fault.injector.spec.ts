import { VaultFaultInjector } from './vault-fault.injector';
import { VaultFaultsModule } from './vault-faults.module';
import { VaultInjectedFaultError } from './vault-injected-fault.error';

const subject = (i: number, attempt = 1) => ({
  eventId: `00000000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`,
  consumer: 'vault-notifications',
  attempt,
});

/** Attempts out of `n` that the injector fails. */
function failures(injector: VaultFaultInjector, n: number, attempt = 1): number {
  let failed = 0;
  for (let i = 0; i < n; i++) {
    try {
      injector.afterWrites(subject(i, attempt));
    } catch (error) {
      expect(error).toBeInstanceOf(VaultInjectedFaultError);
      failed++;
    }
  }
  return failed;
}

describe('VaultFaultInjector (VAULT_FAULT_RATE test hook)', () => {
  it('never fails at rate 0 and always at rate 1', () => {
    expect(failures(new VaultFaultInjector(0), 1_000)).toBe(0);
    expect(failures(new VaultFaultInjector(1), 1_000)).toBe(1_000);
  });

  it('fails about the given share of attempts, the same attempt the same way every time', () => {
    const injector = new VaultFaultInjector(0.2);
    const failed = failures(injector, 10_000);
    expect(failed).toBeGreaterThan(1_800);
    expect(failed).toBeLessThan(2_200);
    expect(failures(injector, 10_000)).toBe(failed);
  });

  it('decides each attempt afresh, naming the delivery in its error', () => {
    const injector = new VaultFaultInjector(0.2);
    const first = new Set<number>();
    for (let i = 0; i < 1_000; i++) {
      try {
        injector.afterWrites(subject(i, 1));
      } catch {
        first.add(i);
      }
    }
    let failedTwice = 0;
    for (const i of first) {
      try {
        injector.afterWrites(subject(i, 2));
      } catch (error) {
        failedTwice++;
        expect((error as Error).message).toContain(`attempt 2 of event ${subject(i).eventId}`);
      }
    }
    expect(failedTwice).toBeLessThan(first.size / 2);
  });

  it('refuses a rate outside 0 to 1', () => {
    for (const rate of [-0.1, 1.5, Number.NaN])
      expect(() => VaultFaultsModule.forRoot({ rate })).toThrow('VAULT_FAULT_RATE must be');
  });
});
