import { Global, Module, type DynamicModule } from '@nestjs/common';
import { VaultFaultInjector } from './vault-fault.injector';
import { VAULT_FAULT_RATE } from './vault-faults.constants';

/** Why `value` cannot be a fault rate, or undefined when it can. */
export function faultRateProblem(value: number): string | undefined {
  return Number.isFinite(value) && value >= 0 && value <= 1
    ? undefined
    : `must be a number from 0 to 1 (got ${value})`;
}

/**
 * The fault-injection test hook ({@link VaultFaultInjector}), global so the consumer modules
 * find it; they take it as optional, so without this module nothing is injected.
 */
@Global()
@Module({})
export class VaultFaultsModule {
  static forRoot(options: { readonly rate: number }): DynamicModule {
    const problem = faultRateProblem(options.rate);
    if (problem) throw new RangeError(`VAULT_FAULT_RATE ${problem}`);
    return {
      module: VaultFaultsModule,
      providers: [{ provide: VAULT_FAULT_RATE, useValue: options.rate }, VaultFaultInjector],
      exports: [VaultFaultInjector],
    };
  }
}
