/**
 * Bounds of the vault API. They keep every stored number far from PostgreSQL's limits: a vault
 * holds at most {@link MAX_BALANCE_MINOR} and an owner at most {@link MAX_VAULTS_PER_OWNER}
 * vaults, so the ledger (the sum of an owner's balances, even while it catches up with events
 * of several vaults) stays below 10^18, well inside a bigint (2^63 − 1 ≈ 9.2 × 10^18).
 */

/** Largest amount of one deposit or withdrawal, in minor units (10^15). */
export const MAX_AMOUNT_MINOR = 1_000_000_000_000_000n;

/** Largest balance of one vault, in minor units (10^15). */
export const MAX_BALANCE_MINOR = 1_000_000_000_000_000n;

/** Most vaults one owner may open (closed ones count: their events still feed the ledger). */
export const MAX_VAULTS_PER_OWNER = 1_000;

/** Longest accepted `Idempotency-Key` header, in characters. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 128;

/** Largest `expectedVersion` (the `version` column is a PostgreSQL integer). */
export const MAX_EXPECTED_VERSION = 2_147_483_647;

/** Deepest accepted JSON request body (objects and arrays), counting the top level as 1. */
export const MAX_BODY_DEPTH = 32;

/** Longest owner id (also for the ledger route). */
export const MAX_OWNER_ID_LENGTH = 100;
