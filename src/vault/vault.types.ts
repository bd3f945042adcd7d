/** Lifecycle of a vault. */
export enum VaultStatus {
  Open = 'open',
  Locked = 'locked',
  Closed = 'closed',
}

/** A vault as the API returns it (amounts as decimal strings of minor units). */
export interface VaultView {
  readonly id: string;
  readonly ownerId: string;
  readonly name: string;
  readonly currency: string;
  readonly balanceMinor: string;
  readonly status: VaultStatus;
  readonly version: number;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly closedAt: string | null;
}

/** Result of a vault command; stored with its idempotency key and returned again on retries. */
export interface VaultOperationResult {
  readonly operationId: string;
  readonly eventId: string;
  readonly kind: VaultOperationKind;
  readonly vault: VaultView;
  /** True when this is the stored result of an earlier request with the same Idempotency-Key. */
  readonly replayed: boolean;
}

export type VaultOperationKind = 'open' | 'deposit' | 'withdraw' | 'lock' | 'unlock' | 'close';

/** Options shared by vault commands. */
export interface CommandOptions {
  /** Same key, same result: a retried request does not act twice. */
  readonly idempotencyKey?: string;
  /** Optimistic concurrency: fail with a conflict unless the vault is at this version. */
  readonly expectedVersion?: number;
}
