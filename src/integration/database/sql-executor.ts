/** Result of one SQL statement. */
export interface SqlResult<TRow> {
  readonly rows: TRow[];
  readonly rowCount: number;
}

/**
 * Runs one parameterized SQL statement (`$1`, `$2`, … placeholders) on a client or inside a
 * transaction. Every query of this module goes through it; SQL text never contains input.
 */
export interface SqlExecutor {
  query<TRow = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
  ): Promise<SqlResult<TRow>>;
}

/** Settings of a dedicated connection for LISTEN (see `pg.ClientConfig`). */
export interface ListenConnectionConfig {
  readonly connectionString?: string;
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string | (() => string | Promise<string>);
  readonly database?: string;
  readonly ssl?: unknown;
}

/**
 * The port between this module and the app's ORM: `prismaAdapter`, `knexAdapter`, `pgAdapter`.
 * `TTx` is the transaction handle handlers receive (`ctx.tx`).
 */
export interface IntegrationDatabaseAdapter<TTx = unknown> {
  /** Adapter name for messages, e.g. `prisma`. */
  readonly kind: string;
  /** Executor on the root client (its own implicit transaction per statement). */
  readonly root: SqlExecutor;
  /** Executor bound to `handle` when it is a transaction of this ORM; `undefined` otherwise. */
  forTransaction(handle: unknown): SqlExecutor | undefined;
  /**
   * Runs `fn` in a new transaction; commits when it resolves, rolls back when it throws and then
   * rejects with exactly what `fn` threw (`undefined` and other non-errors included).
   */
  transaction<T>(
    fn: (tx: TTx, sql: SqlExecutor) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
  /** Connection settings for the LISTEN connection; `undefined` when unknown (polling only). */
  listenConfig(): ListenConnectionConfig | undefined;
  /**
   * True when statements issued concurrently on one transaction are pipelined (sent without
   * waiting for the previous result), which lets a consumer with `concurrency` > 1 run events
   * side by side. Absent or false: such consumers run one event at a time.
   */
  readonly pipelining?: boolean;
  /**
   * Runs `statement` (if any) as the last statement of the transaction `handle` and commits it,
   * sending both back to back: on a pipelining connection they travel together, so the statement
   * costs no round trip of its own. Resolves with the statement's result once COMMIT succeeded;
   * rejects when either failed, and the transaction is then rolled back. Absent: the adapter
   * cannot commit its ORM's transactions (Prisma, Knex commit when their callback returns).
   */
  commitWith?<TRow>(
    handle: unknown,
    statement?: { readonly sql: string; readonly params: readonly unknown[] },
  ): Promise<SqlResult<TRow> | undefined>;
}

/** Options of {@link IntegrationDatabaseAdapter.transaction}. */
export interface TransactionOptions {
  /** Longest the transaction may stay open (Prisma's interactive-transaction timeout). */
  readonly timeoutMs?: number;
}
