import type {
  IntegrationDatabaseAdapter,
  TransactionSqlExecutor,
} from '../../database/sql-executor';

/**
 * What the work inside a transaction (or savepoint) asks for: keep it (`commit`), roll it back
 * (`rollback`), or, inside a savepoint, leave it as it is because the whole transaction must be
 * abandoned (`abandon`: a timed-out handler may still be using it).
 */
export interface ScopedResult<T> {
  readonly end: 'commit' | 'rollback' | 'abandon';
  readonly value: T;
}

/** What {@link runTransaction} ended with. */
export type TransactionRun<T> =
  | { readonly kind: 'committed'; readonly value: T }
  /** Rolled back because the work asked for it (`rollback` or `abandon`). */
  | { readonly kind: 'rolled-back'; readonly value: T }
  /** The transaction itself failed: BEGIN, a statement of ours, COMMIT, or its timeout. */
  | { readonly kind: 'failed'; readonly error: unknown };

/** What {@link runInSavepoint} ended with. */
export type SavepointRun<T> =
  | { readonly kind: 'released'; readonly value: T }
  /** Rolled back to the savepoint because the work asked for it; the transaction goes on. */
  | { readonly kind: 'rolled-back'; readonly value: T }
  /** Left as it was at the work's request: the caller must roll the whole transaction back. */
  | { readonly kind: 'abandoned'; readonly value: T }
  /**
   * A statement of the work, or the RELEASE after it (a handler swallowed an SQL error), failed:
   * rolled back to the savepoint; the transaction goes on.
   */
  | { readonly kind: 'failed'; readonly error: unknown }
  /** The SAVEPOINT or ROLLBACK TO statement failed: the transaction is unusable. */
  | { readonly kind: 'broken'; readonly error: unknown };

/**
 * Carries a result out of an adapter's callback: the adapters roll back only when their
 * callback throws, so this is thrown there and caught right here, nowhere else.
 */
class Unwind<T> {
  constructor(readonly result: ScopedResult<T>) {}
}

/**
 * Runs `work` in a new transaction of `database` and reports how it ended, without throwing:
 * commits when `work` asks for `commit`, rolls back otherwise.
 */
export async function runTransaction<T, TTx>(
  database: IntegrationDatabaseAdapter<TTx>,
  timeoutMs: number,
  work: (tx: TTx, sql: TransactionSqlExecutor) => Promise<ScopedResult<T>>,
): Promise<TransactionRun<T>> {
  try {
    const result = await database.transaction(
      async (tx, sql) => {
        const result = await work(tx, sql);
        if (result.end !== 'commit') throw new Unwind(result);
        return result;
      },
      { timeoutMs },
    );
    return { kind: 'committed', value: result.value };
  } catch (error) {
    if (error instanceof Unwind)
      return { kind: 'rolled-back', value: (error as Unwind<T>).result.value };
    return { kind: 'failed', error };
  }
}

/** Runs `work` inside a SAVEPOINT of `sql`'s transaction and reports how it ended, without throwing. */
export async function runInSavepoint<T>(
  sql: TransactionSqlExecutor,
  work: () => Promise<ScopedResult<T>>,
): Promise<SavepointRun<T>> {
  // The savepoint primitive reports the work's (or RELEASE's) error to abandonOn, never that
  // of SAVEPOINT or ROLLBACK TO: that tells a failed statement of the work from a broken
  // transaction.
  let workError: { readonly error: unknown } | undefined;
  try {
    const result = await sql.savepoint(
      async () => {
        const result = await work();
        if (result.end !== 'commit') throw new Unwind(result);
        return result;
      },
      {
        abandonOn: (error) => {
          if (error instanceof Unwind) return (error as Unwind<T>).result.end === 'abandon';
          workError = { error };
          return false;
        },
      },
    );
    return { kind: 'released', value: result.value };
  } catch (error) {
    if (error instanceof Unwind) {
      const { end, value } = (error as Unwind<T>).result;
      return { kind: end === 'abandon' ? 'abandoned' : 'rolled-back', value };
    }
    if (workError !== undefined && workError.error === error) return { kind: 'failed', error };
    return { kind: 'broken', error };
  }
}

/**
 * Longest a consumer transaction may stay open (Prisma enforces it): the lease plus one
 * handler timeout per delivery, since the heartbeat keeps the lease alive meanwhile.
 */
export function consumerTransactionTimeout(
  processor: { readonly leaseMs: number; readonly handlerTimeoutMs: number },
  deliveries: number,
): number {
  return Math.min(processor.leaseMs + processor.handlerTimeoutMs * deliveries, 24 * 3_600_000);
}
