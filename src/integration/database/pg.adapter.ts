import { createHash } from 'node:crypto';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { InvalidDatabaseAdapterError } from '../errors/invalid-database-adapter.error';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import { clientShape, describeClient, wrongClientFix } from './client-shape';
import type {
  IntegrationDatabaseAdapter,
  ListenConnectionConfig,
  SqlExecutor,
  SqlResult,
  TransactionSqlExecutor,
} from './sql-executor';
import { sqlExecutor } from './sql-executor.factory';
import { withPgListen } from './pg-listener';

/** The part of a `pg` client this module uses. */
export interface PgClientLike {
  query(
    sql: string | QueryConfig,
    params?: unknown[],
  ): Promise<{ rows: unknown[]; rowCount: number | null; command?: string }>;
  getTransactionStatus?(): string | null;
  /** True for a client created with `pipeline: true` (pg 8.23+). */
  readonly pipeline?: boolean;
}

/** Options of {@link pgAdapter}. */
export interface PgAdapterOptions {
  /**
   * Run this module's parameterized statements as named prepared statements, so each
   * connection parses and plans them once instead of on every call. Turn off behind a pooler
   * that cannot keep prepared statements (PgBouncer in transaction mode before 1.21).
   * @default true
   */
  readonly preparedStatements?: boolean;
}

/** Statement names by SQL text: this module's SQL is a fixed set of constant strings. */
const statementNames = new Map<string, string>();

function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (name === undefined) {
    name = `ni_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
    statementNames.set(sql, name);
  }
  return name;
}

function executor(client: PgClientLike, prepared: boolean): TransactionSqlExecutor {
  return sqlExecutor(
    async <TRow>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<TRow>> => {
      const result =
        prepared && params.length > 0
          ? await client.query({ name: statementName(sql), text: sql, values: [...params] })
          : await client.query(sql, [...params]);
      return { rows: result.rows as TRow[], rowCount: result.rowCount ?? result.rows.length };
    },
  );
}

/**
 * The statement and COMMIT back to back. Pipelined, both are on the wire before either answer:
 * when the statement fails, PostgreSQL answers the COMMIT of the now aborted transaction with
 * ROLLBACK, so nothing commits. Not pipelined, one after the other (ROLLBACK after a failure).
 */
async function commitWith<TRow>(
  client: PgClientLike,
  sql: SqlExecutor,
  statement: { readonly sql: string; readonly params: readonly unknown[] } | undefined,
): Promise<SqlResult<TRow> | undefined> {
  if (client.pipeline) {
    const pending = statement ? sql.query<TRow>(statement.sql, statement.params) : undefined;
    const [result, commit] = await Promise.allSettled([pending, client.query('COMMIT')]);
    if (result.status === 'rejected') throw result.reason;
    if (commit.status === 'rejected') throw commit.reason;
    assertCommitted(commit.value.command);
    return result.value;
  }
  let result: SqlResult<TRow> | undefined;
  try {
    if (statement) result = await sql.query<TRow>(statement.sql, statement.params);
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  assertCommitted((await client.query('COMMIT')).command);
  return result;
}

/** PostgreSQL answers COMMIT with ROLLBACK when the transaction had already failed. */
function assertCommitted(command: string | undefined): void {
  if (command !== undefined && command !== 'COMMIT') {
    throw new Error(
      `COMMIT was answered with ${command}: the transaction had already failed, nothing was committed`,
    );
  }
}

/** A pg client counts as a transaction while PostgreSQL reports it inside a transaction block. */
function isInTransaction(handle: unknown): handle is PgClientLike {
  if (typeof handle !== 'object' || handle === null) return false;
  const status = (handle as PgClientLike).getTransactionStatus?.();
  return status === 'T';
}

/**
 * Adapter for a `pg` Pool; handlers receive the pool client inside `BEGIN` as `ctx.tx`. On a
 * pool created with `pipeline: true` (pg 8.23+), consumers with `concurrency` > 1 run events of
 * different ordering keys side by side, their statements pipelined on the batch's connection.
 * @throws InvalidDatabaseAdapterError when `pool` is not a pg Pool (e.g. a single pg Client, a
 * Prisma client or a Knex instance).
 */
export function pgAdapter(
  pool: Pool,
  options: PgAdapterOptions = {},
): IntegrationDatabaseAdapter<PoolClient> {
  const shape = clientShape(pool);
  if (shape !== 'pg-pool') {
    throw new InvalidDatabaseAdapterError(
      'pgAdapter',
      describeClient(pool),
      shape === 'pg-client'
        ? 'pass a pg Pool (new Pool({ connectionString })); the adapter takes a connection from it for each transaction, which one Client cannot give'
        : wrongClientFix(shape, 'pass a pg Pool (new Pool({ connectionString }))'),
    );
  }
  const prepared = options.preparedStatements ?? true;
  return withPgListen({
    kind: 'pg',
    pipelining: pool.options.pipeline === true,
    root: executor(pool as unknown as PgClientLike, prepared),
    forTransaction: (handle) => (isInTransaction(handle) ? executor(handle, prepared) : undefined),
    commitWith: <TRow>(
      handle: unknown,
      statement?: { readonly sql: string; readonly params: readonly unknown[] },
    ) => {
      if (!isInTransaction(handle)) {
        return Promise.reject(new TransactionRequiredError('pg', 'commitWith'));
      }
      return commitWith<TRow>(handle, executor(handle, prepared), statement);
    },
    async transaction(fn) {
      const client = await pool.connect();
      let failed = false;
      try {
        await client.query('BEGIN');
        const result = await fn(client, executor(client, prepared));
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
  });
}
