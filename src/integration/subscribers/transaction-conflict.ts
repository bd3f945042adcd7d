/**
 * How many times a consumer's work is run again, at once, after its transaction hit a deadlock
 * or a serialization failure (no attempt counted); after that such a failure is an ordinary one.
 */
export const MAX_CONFLICT_RETRIES = 3;

/** SQLSTATEs of a transaction PostgreSQL rolled back to resolve a conflict: run it again. */
const CONFLICT_SQLSTATES: ReadonlySet<string> = new Set([
  '40P01', // deadlock_detected
  '40001', // serialization_failure
]);

/** Prisma's "Transaction failed due to a write conflict or a deadlock. Please retry". */
const PRISMA_WRITE_CONFLICT = 'P2034';
/** Prisma's "Raw query failed. Code: `40P01`. Message: …" (P2010) names the SQLSTATE in text. */
const PRISMA_RAW_CONFLICT = /Code: `(40P01|40001)`/;
/** Where the libraries keep the error they wrap. */
const NESTED = ['cause', 'meta', 'driverAdapterError', 'originalError', 'error'] as const;

function isConflict(value: object, depth: number, seen: Set<object>): boolean {
  if (depth > 8 || seen.has(value)) return false;
  seen.add(value);
  const v = value as Record<string, unknown>;
  const { code, originalCode, kind, message } = v;
  if (typeof code === 'string' && (CONFLICT_SQLSTATES.has(code) || code === PRISMA_WRITE_CONFLICT))
    return true;
  // Prisma 6+ driver adapters: meta.driverAdapterError.cause = { kind, originalCode, … }.
  if (typeof originalCode === 'string' && CONFLICT_SQLSTATES.has(originalCode)) return true;
  if (kind === 'TransactionWriteConflict') return true;
  if (code === 'P2010' && typeof message === 'string' && PRISMA_RAW_CONFLICT.test(message))
    return true;
  return NESTED.some((key) => {
    const nested = v[key];
    return typeof nested === 'object' && nested !== null && isConflict(nested, depth + 1, seen);
  });
}

/**
 * True when `error` says PostgreSQL rolled the transaction back to resolve a deadlock (SQLSTATE
 * `40P01`) or a serialization failure (`40001`), as thrown by `pg` and Knex (`code`), or by
 * Prisma (`P2034`, or a raw query's `P2010` carrying the SQLSTATE), directly or as the `cause`
 * of another error. Such a transaction may succeed when simply run again.
 */
export function isTransactionConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  try {
    return isConflict(error, 0, new Set());
  } catch {
    // A throwing getter on some foreign error object: not one of ours.
    return false;
  }
}
