/** Vault domain errors; the HTTP filter maps them to status codes. */
export class VaultError extends Error {
  constructor(
    message: string,
    /** The request field the error is about, when there is one (returned as `field`). */
    readonly field?: string,
  ) {
    super(message);
  }
}

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
  override readonly name: string = 'VaultRuleViolationError';
}

/**
 * The caller already used this `Idempotency-Key` for a different request (422). The message
 * names nothing but the key: not the earlier request's vault or result.
 */
export class VaultIdempotencyKeyReusedError extends VaultRuleViolationError {
  override readonly name: string = 'VaultIdempotencyKeyReusedError';
  constructor(readonly idempotencyKey: string) {
    super(
      `Idempotency-Key ${JSON.stringify(idempotencyKey)} was already used for a different request; ` +
        'send a new key for a new request, and the same key only to retry the same request',
      'Idempotency-Key',
    );
  }
}
