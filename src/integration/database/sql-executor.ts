/** Result of one SQL statement. */
export interface SqlResult<TRow> {
  readonly rows: TRow[];
  /**
   * Rows the statement changed, as the driver reports it; through the Prisma adapter, the
   * number of rows returned (Prisma's raw queries report no count). A statement whose count
   * matters therefore returns a row per changed row (`RETURNING 1`).
   */
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

/**
 * A {@link SqlExecutor} bound to a transaction: what `transaction(fn)` passes to `fn` and what
 * `forTransaction` returns. Adds the savepoint primitive.
 */
export interface TransactionSqlExecutor extends SqlExecutor {
  /**
   * Runs `fn` inside a SAVEPOINT of this executor's transaction and releases it. When `fn`
   * throws, or resolves but left the transaction aborted (it swallowed an SQL error, so the
   * RELEASE fails), rolls back to the savepoint (undoing `fn`'s statements only; the transaction
   * stays usable), releases it and rethrows that error exactly (non-errors included). Savepoints
   * nest. Only on an executor bound to a transaction (PostgreSQL refuses SAVEPOINT outside one).
   * The three adapters share one implementation (`sqlExecutor`).
   * @throws the error of `fn` (or of the RELEASE after it); or, when the SAVEPOINT or ROLLBACK TO
   * statement itself failed, that error, and the transaction is then unusable.
   */
  savepoint<T>(fn: () => Promise<T>, options?: SavepointOptions): Promise<T>;
}

/** Options of {@link TransactionSqlExecutor.savepoint}. */
export interface SavepointOptions {
  /**
   * Called once with the error of `fn` (or of the RELEASE after it), before anything is rolled
   * back; never with the error of the SAVEPOINT or ROLLBACK TO statements. When it returns true
   * the savepoint is left as it is (no ROLLBACK TO, no RELEASE) and the error is rethrown: the
   * caller abandons the whole transaction, e.g. because code that timed out may still use it.
   * @default never
   */
  readonly abandonOn?: (error: unknown) => boolean;
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
  /**
   * How the connection is called in `pg_stat_activity`. When neither this, the URL's
   * `?application_name=` nor `PGAPPNAME` names it, the module calls it
   * `nestjs-integration:<workerId>`.
   */
  readonly application_name?: string;
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
  forTransaction(handle: unknown): TransactionSqlExecutor | undefined;
  /**
   * Runs `fn` in a new transaction; commits when it resolves, rolls back when it throws and then
   * rejects with exactly what `fn` threw (`undefined` and other non-errors included).
   */
  transaction<T>(
    fn: (tx: TTx, sql: TransactionSqlExecutor) => Promise<T>,
    options?: TransactionOptions,
  ): Promise<T>;
  /** Connection settings for the LISTEN connection; `undefined` when unknown (polling only). */
  listenConfig(): ListenConnectionConfig | undefined;
  /**
   * Opens a dedicated connection that LISTENs on `channel` and calls `onNotify` for each
   * notification on it, reconnecting with backoff after a drop (and calling `onNotify` once
   * reconnected, since notifications may have been missed). Returns at once, connecting in the
   * background; `undefined` when no connection settings are known (`options.connection`, else
   * `listenConfig()`), i.e. polling only. The three adapters share one pg-based implementation.
   * Absent on a custom adapter: the processor uses that same implementation with the
   * `notify.connection` settings.
   */
  listen?(channel: string, onNotify: () => void, options?: ListenOptions): ListenHandle | undefined;
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

/** Options of {@link IntegrationDatabaseAdapter.listen}. */
export interface ListenOptions {
  /** Connection settings to use instead of the adapter's `listenConfig()`. */
  readonly connection?: ListenConnectionConfig;
  /**
   * `application_name` for the connection when its settings do not name it (see
   * {@link ListenConnectionConfig.application_name}); the processor passes
   * `nestjs-integration:<workerId>`.
   */
  readonly applicationName?: string;
  /** The connection is listening; `reconnected` after a drop or failed attempt. */
  readonly onUp?: (reconnected: boolean) => void;
  /** Connecting failed or the connection dropped; the next attempt is in `retryInMs`. */
  readonly onDown?: (error: unknown, retryInMs: number) => void;
}

/** A LISTEN connection opened by {@link IntegrationDatabaseAdapter.listen}. */
export interface ListenHandle {
  /** True while the connection is established and listening. */
  readonly listening: boolean;
  /** Settles once the first connection attempt ended, whether or not it succeeded. */
  readonly ready: Promise<void>;
  /** Stops listening and reconnecting, and closes the connection. */
  close(): Promise<void>;
  /** The PostgreSQL backend pid of the connection while listening (diagnostics and tests). */
  backendPid(): Promise<number | undefined>;
}
