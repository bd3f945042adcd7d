import type { Pool, PoolClient } from 'pg';
import type {
  IntegrationDatabaseAdapter,
  ListenConnectionConfig,
  SqlExecutor,
  SqlResult,
} from './sql-executor';

/** The part of a `pg` client this module uses. */
export interface PgClientLike {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[]; rowCount: number | null }>;
  getTransactionStatus?(): string | null;
}

function executor(client: PgClientLike): SqlExecutor {
  return {
    async query<TRow>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<TRow>> {
      const result = await client.query(sql, [...params]);
      return { rows: result.rows as TRow[], rowCount: result.rowCount ?? result.rows.length };
    },
  };
}

/** A pg client counts as a transaction while PostgreSQL reports it inside a transaction block. */
function isInTransaction(handle: unknown): handle is PgClientLike {
  if (typeof handle !== 'object' || handle === null) return false;
  const status = (handle as PgClientLike).getTransactionStatus?.();
  return status === 'T';
}

/** Adapter for a `pg` Pool; handlers receive the pool client inside `BEGIN` as `ctx.tx`. */
export function pgAdapter(pool: Pool): IntegrationDatabaseAdapter<PoolClient> {
  return {
    kind: 'pg',
    root: executor(pool as unknown as PgClientLike),
    forTransaction: (handle) => (isInTransaction(handle) ? executor(handle) : undefined),
    async transaction(fn) {
      const client = await pool.connect();
      let failed = false;
      try {
        await client.query('BEGIN');
        const result = await fn(client, executor(client));
        await client.query('COMMIT');
        return result;
      } catch (error) {
        failed = true;
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        // After a failure the connection is closed, not pooled: code that still holds the client
        // (a handler that timed out) must not reach another caller's transaction through it.
        client.release(failed);
      }
    },
    listenConfig: (): ListenConnectionConfig => {
      const o = pool.options;
      return {
        connectionString: o.connectionString,
        host: o.host,
        port: o.port,
        user: o.user,
        password: o.password as ListenConnectionConfig['password'],
        database: o.database,
        ssl: o.ssl,
      };
    },
  };
}
