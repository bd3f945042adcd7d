/** Injection token of the fault rate of {@link VaultFaultInjector} (a number from 0 to 1). */
export const VAULT_FAULT_RATE = Symbol('VAULT_FAULT_RATE');
