/**
 * Integration event of the ledger module: published by its handler of `vault.opened` when an
 * owner gets their first ledger row in a currency, in the delivery's transaction (so with the
 * handled event as causation and the same correlation id).
 */
export interface VaultLedgerOpened {
  readonly ownerId: string;
  readonly currency: string;
}

declare module 'nestjs-integration' {
  interface IntegrationEventMap {
    'vault-ledger.opened': VaultLedgerOpened;
  }
}
