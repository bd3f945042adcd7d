/** Vault domain errors; the HTTP filter maps them to status codes. */
export class VaultError extends Error {}

/** No vault has this id (404). */
export class VaultNotFoundError extends VaultError {
  override readonly name = 'VaultNotFoundError';
  constructor(readonly vaultId: string) {
    super(`Vault ${vaultId} does not exist`);
  }
}

/** The vault's state does not allow the operation now: closed, locked, or another version (409). */
export class VaultConflictError extends VaultError {
  override readonly name = 'VaultConflictError';
}

/** The operation breaks a business rule whatever the timing: insufficient balance, non-zero close (422). */
export class VaultRuleViolationError extends VaultError {
  override readonly name = 'VaultRuleViolationError';
}
