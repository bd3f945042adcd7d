/**
 * Integration events of the vault module, registered in the event map so `publish` and handlers
 * get their payload types by name. Amounts are decimal strings of minor units (bigint-safe).
 */
export interface VaultOpened {
  readonly vaultId: string;
  readonly ownerId: string;
  readonly name: string;
  readonly currency: string;
  readonly version: number;
}

export interface VaultBalanceChanged {
  readonly vaultId: string;
  readonly ownerId: string;
  readonly currency: string;
  readonly operationId: string;
  /** Amount moved, minor units. */
  readonly amountMinor: string;
  /** Balance after the operation, minor units. */
  readonly balanceMinor: string;
  readonly version: number;
}

export interface VaultStatusChanged {
  readonly vaultId: string;
  readonly ownerId: string;
  readonly version: number;
  readonly reason?: string;
}

declare module 'nestjs-integration' {
  interface IntegrationEventMap {
    'vault.opened': VaultOpened;
    'vault.deposited': VaultBalanceChanged;
    'vault.withdrawn': VaultBalanceChanged;
    'vault.locked': VaultStatusChanged;
    'vault.unlocked': VaultStatusChanged;
    'vault.closed': VaultStatusChanged;
  }
}

/** Every vault event name. */
export const VAULT_EVENTS = [
  'vault.opened',
  'vault.deposited',
  'vault.withdrawn',
  'vault.locked',
  'vault.unlocked',
  'vault.closed',
] as const;
export type VaultEventName = (typeof VAULT_EVENTS)[number];
