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

/**
 * The part of a Prisma client this module uses. Structural, so the module never imports the
 * app's generated client; any Prisma 5–7 client (with or without driver adapter) fits.
 */
export interface PrismaClientLike {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
  $transaction<R>(
    fn: (tx: PrismaTransactionLike) => Promise<R>,
    options?: { maxWait?: number; timeout?: number },
  ): Promise<R>;
}

/** A Prisma interactive-transaction client (what `$transaction(async (tx) => …)` passes). */
export interface PrismaTransactionLike {
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  $executeRawUnsafe(query: string, ...values: unknown[]): Promise<number>;
}

/** Options of {@link prismaAdapter}. */
export interface PrismaAdapterOptions {
  /**
   * URL for the dedicated LISTEN connection. Prisma does not expose its connection settings,
   * so without it the processor polls only (still delivers everything, with more latency).
   */
  readonly listenUrl?: string;
}

function isPrismaTransaction(handle: unknown): handle is PrismaTransactionLike {
  // An interactive-transaction client has the raw-query methods but, unlike the root client,
  // no connection management ($connect / $disconnect).
  return (
    typeof handle === 'object' &&
    handle !== null &&
    typeof (handle as PrismaTransactionLike).$queryRawUnsafe === 'function' &&
    typeof (handle as { $connect?: unknown }).$connect !== 'function'
  );
}

function executor(client: PrismaTransactionLike): TransactionSqlExecutor {
  return sqlExecutor(
    async <TRow>(sql: string, params: readonly unknown[] = []): Promise<SqlResult<TRow>> => {
      const rows = await client.$queryRawUnsafe<TRow[]>(sql, ...params);
      return { rows, rowCount: rows.length };
    },
  );
}

/**
 * Adapter for a Prisma client; handlers receive the interactive-transaction client as `ctx.tx`.
 * @throws InvalidDatabaseAdapterError when `prisma` is not a Prisma client (e.g. a Knex
 * instance, a pg Pool, or an interactive-transaction client).
 */
export function prismaAdapter<TTx extends PrismaTransactionLike = PrismaTransactionLike>(
  prisma: PrismaClientLike,
  options: PrismaAdapterOptions = {},
): IntegrationDatabaseAdapter<TTx> {
  const shape = clientShape(prisma);
  if (shape !== 'prisma') {
    throw new InvalidDatabaseAdapterError(
      'prismaAdapter',
      describeClient(prisma),
      shape === 'prisma-transaction'
        ? 'pass the PrismaClient itself; the adapter opens the transactions and hands each handler its transaction client as ctx.tx'
        : wrongClientFix(shape, 'pass your PrismaClient (or the service that extends it)'),
    );
  }
  return withPgListen({
    kind: 'prisma',
    root: executor(prisma),
    forTransaction: (handle) => (isPrismaTransaction(handle) ? executor(handle) : undefined),
    transaction: (fn, txOptions) =>
      prisma.$transaction((tx) => fn(tx as TTx, executor(tx)), {
        maxWait: 10_000,
        timeout: txOptions?.timeoutMs ?? 30_000,
      }),
    listenConfig: (): ListenConnectionConfig | undefined =>
      options.listenUrl ? { connectionString: options.listenUrl } : undefined,
  });
}
