import type { SavepointOptions, SqlExecutor, TransactionSqlExecutor } from './sql-executor';

/** The one statement every adapter implements: a parameterized query. */
export type QueryFn = SqlExecutor['query'];

// One fixed name: PostgreSQL resolves ROLLBACK TO / RELEASE to the most recent savepoint of that
// name, so nested savepoints stay correct without a counter.
const SAVEPOINT = 'ni_savepoint';

/**
 * Builds an adapter's {@link TransactionSqlExecutor} from its `query`: the savepoint primitive is written
 * once here for every adapter, on top of that same `query`.
 */
export function sqlExecutor(query: QueryFn): TransactionSqlExecutor {
  return {
    query,
    async savepoint<T>(fn: () => Promise<T>, options?: SavepointOptions): Promise<T> {
      await query(`SAVEPOINT ${SAVEPOINT}`);
      try {
        const result = await fn();
        // Fails when `fn` resolved but left the transaction aborted (it swallowed an SQL error):
        // that is `fn`'s failure too, and rolling back to the savepoint recovers the transaction.
        await query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
        return result;
      } catch (error) {
        if (options?.abandonOn?.(error)) throw error;
        await query(`ROLLBACK TO SAVEPOINT ${SAVEPOINT}`);
        await query(`RELEASE SAVEPOINT ${SAVEPOINT}`);
        throw error;
      }
    },
  };
}
