import { InvalidDatabaseAdapterError } from '../errors/invalid-database-adapter.error';
import { clientShape, describeClient, wrongClientFix } from './client-shape';
import type {
  IntegrationDatabaseAdapter,
  ListenConnectionConfig,
  SqlResult,
  TransactionSqlExecutor,
} from './sql-executor';
import { sqlExecutor } from './sql-executor.factory';
import { withPgListen } from './pg-listener';

/** The part of a Knex instance or transaction this module uses (structural: no import of knex). */
export interface KnexLike {
  raw(sql: string, bindings: readonly unknown[]): PromiseLike<unknown>;
  transaction<T>(fn: (trx: KnexTransactionLike) => Promise<T>): Promise<T>;
  readonly client?: { readonly config?: { readonly connection?: unknown } };
  readonly isTransaction?: boolean;
}

/** A Knex transaction (`knex.transaction(async (trx) => …)`). */
export interface KnexTransactionLike extends KnexLike {
  readonly isTransaction?: boolean;
}

/**
 * Knex raw queries use `?` placeholders; this module's SQL uses `$n`. Each `$n` becomes `?` and
 * the bindings are laid out in order of appearance. Quoted text (`'…'`, `"…"`, `$tag$…$tag$`) is
 * copied as it is, and comments are left out: a `$n` or a `?` in a comment would otherwise
 * become (or be read by Knex as) a binding. (The module's SQL has no literal `?` elsewhere.)
 */
export function toKnexBindings(
  sql: string,
  params: readonly unknown[],
): { sql: string; bindings: unknown[] } {
  const converted = convertPlaceholders(sql);
  const bindings = converted.params.map((n) => {
    if (n < 1 || n > params.length)
      throw new Error(`SQL refers to $${n} but only ${params.length} params were given`);
    return params[n - 1];
  });
  return { sql: converted.sql, bindings };
}

/**
 * Statements already converted (the module's SQL is a small set of constant texts). A pure memo:
 * a text always converts the same way, so apps sharing it never see each other.
 */
const conversions = new Map<string, { sql: string; params: number[] }>();
/** Past this many texts the cache starts over: statements built from filters vary a little. */
const MAX_CONVERSIONS = 1_000;

/** `sql` with `?` for each `$n` outside quotes and comments, and the `n` of each in order. */
function convertPlaceholders(sql: string): { sql: string; params: number[] } {
  const known = conversions.get(sql);
  if (known) return known;
  const params: number[] = [];
  let converted = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i]!;
    const next = sql[i + 1];
    let end: number;
    if (c === "'" || c === '"') {
      end = endOfQuoted(sql, i, c);
      converted += sql.slice(i, end);
    } else if (c === '-' && next === '-') {
      const newline = sql.indexOf('\n', i);
      end = newline < 0 ? sql.length : newline;
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      end = close < 0 ? sql.length : close + 2;
      converted += ' ';
    } else if (c === '$' && next !== undefined && next >= '0' && next <= '9') {
      const digits = /^\d+/.exec(sql.slice(i + 1, i + 12))![0];
      params.push(Number(digits));
      converted += '?';
      end = i + 1 + digits.length;
    } else if (c === '$' && dollarTagAt(sql, i)) {
      const tag = dollarTagAt(sql, i)!;
      const close = sql.indexOf(tag, i + tag.length);
      end = close < 0 ? sql.length : close + tag.length;
      converted += sql.slice(i, end);
    } else {
      end = i + 1;
      converted += c;
    }
    i = end;
  }
  const result = { sql: converted, params };
  if (conversions.size >= MAX_CONVERSIONS) conversions.clear();
  conversions.set(sql, result);
  return result;
}

/** The opening tag of a dollar-quoted string (`$$`, `$body$`) at `i`, if one starts there. */
function dollarTagAt(sql: string, i: number): string | undefined {
  return /^\$[A-Za-z_]*\$/.exec(sql.slice(i, i + 64))?.[0];
}

/** Where the literal or quoted identifier opened by `quote` at `start` ends (doubled quotes escape). */
function endOfQuoted(sql: string, start: number, quote: string): number {
  let i = start + 1;
  for (;;) {
    const close = sql.indexOf(quote, i);
    if (close < 0) return sql.length;
    if (sql[close + 1] !== quote) return close + 1;
    i = close + 2;
  }
}

/**
 * Knex prefixes a failed statement's error message with the whole SQL text (`<sql> - <message>`);
 * this module's statements are long and constant, so the prefix is removed to keep errors and
 * logs to the server's message. Other errors are returned unchanged.
 */
export function withoutSqlText(error: unknown, knexSql: string): unknown {
  if (!(error instanceof Error)) return error;
  // Knex's pg client numbers the `?` placeholders ($1, $2, …) before it prefixes the message.
  let n = 0;
  const prefix = `${knexSql.replace(/\?/g, () => `$${++n}`)} - `;
  if (error.message.startsWith(prefix)) error.message = error.message.slice(prefix.length);
  return error;
}

function executor(knex: KnexLike): TransactionSqlExecutor {
  return sqlExecutor(
    async <TRow>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<TRow>> => {
      const q = toKnexBindings(sql, params);
      let result: { rows: TRow[]; rowCount: number | null };
      try {
        result = (await knex.raw(q.sql, q.bindings)) as typeof result;
      } catch (error) {
        throw withoutSqlText(error, q.sql);
      }
      return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
    },
  );
}

function isKnexTransaction(handle: unknown): handle is KnexTransactionLike {
  if (typeof handle !== 'function') return false;
  const candidate = handle as unknown as Partial<KnexTransactionLike>;
  return candidate.isTransaction === true && typeof candidate.raw === 'function';
}

/**
 * Adapter for a Knex instance (client `pg`); handlers receive the Knex transaction as `ctx.tx`.
 * @throws InvalidDatabaseAdapterError when `knex` is not a Knex instance on PostgreSQL (e.g. a
 * Prisma client, a pg Pool, a Knex transaction, or Knex configured for another database).
 */
export function knexAdapter<TTx extends KnexTransactionLike = KnexTransactionLike>(
  knex: KnexLike,
): IntegrationDatabaseAdapter<TTx> {
  const shape = clientShape(knex);
  if (shape !== 'knex') {
    throw new InvalidDatabaseAdapterError(
      'knexAdapter',
      describeClient(knex),
      shape === 'knex-transaction'
        ? 'pass the Knex instance itself; the adapter opens the transactions and hands each handler its transaction as ctx.tx'
        : wrongClientFix(shape, "pass your Knex instance (knex({ client: 'pg', connection }))"),
    );
  }
  const dialect = (knex.client as { readonly dialect?: unknown } | undefined)?.dialect;
  if (typeof dialect === 'string' && dialect !== 'postgresql') {
    throw new InvalidDatabaseAdapterError(
      'knexAdapter',
      `a Knex instance for ${dialect}`,
      "this module needs PostgreSQL: configure Knex with client: 'pg'",
    );
  }
  return withPgListen({
    kind: 'knex',
    root: executor(knex),
    forTransaction: (handle) => (isKnexTransaction(handle) ? executor(handle) : undefined),
    transaction: async (fn) => {
      // Knex rolls back and then *resolves* when the callback rejects with `undefined`: keep
      // what the callback threw and rethrow it, so every caller sees the failure.
      let failure: { readonly error: unknown } | undefined;
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await knex.transaction(async (trx) => {
          try {
            return await fn(trx as TTx, executor(trx));
          } catch (error) {
            failure = { error };
            throw error;
          }
        });
      } catch (error) {
        throw failure ? failure.error : error;
      }
      if (failure) throw failure.error;
      return result;
    },
    listenConfig: (): ListenConnectionConfig | undefined => {
      const connection = knex.client?.config?.connection;
      if (typeof connection === 'string') return { connectionString: connection };
      if (connection && typeof connection === 'object') {
        // Knex keeps the password it parsed from a URL non-enumerable (out of its logs), and the
        // listener spreads this config: copy the password so the LISTEN connection gets it.
        const config = connection as ListenConnectionConfig;
        return config.password === undefined ? config : { ...config, password: config.password };
      }
      return undefined;
    },
  });
}
