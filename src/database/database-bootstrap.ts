import { Logger } from '@nestjs/common';
import path from 'node:path';
import { Client } from 'pg';
import { migrateLatest } from '../../db/migrator';
import { JitterMode, resolveRetryPolicy, retryAsync, type RetryPolicy } from '../utils/retry';
import { maskDatabaseUrl } from './database-url';
import { DatabaseUnavailableError } from './database-unavailable.error';
import { EmbeddedPostgresServer } from './embedded-postgres';

/** Start-up connection retries: about 10 s in all before giving up. */
export const STARTUP_RETRY_POLICY: RetryPolicy = resolveRetryPolicy({
  baseDelayMs: 200,
  maxDelayMs: 3_000,
  maxAttempts: 6,
  jitter: JitterMode.Equal,
});

/** Where the app's database comes from. */
export interface DatabaseBootstrapOptions {
  /** Use this server; when absent an embedded one is started. */
  readonly databaseUrl?: string;
  /** Embedded cluster directory (kept between runs). @default '.data/postgres' */
  readonly dataDir?: string;
  /** Embedded server port. @default 54329 */
  readonly port?: number;
  /** Database created on the embedded server. @default 'nestjs_integration' */
  readonly databaseName?: string;
  /** Apply pending migrations. @default true */
  readonly migrate?: boolean;
  readonly retryPolicy?: RetryPolicy;
  /** Per-attempt connection timeout. @default 5000 */
  readonly connectTimeoutMs?: number;
}

/** A ready database: its URL, and how to release what bootstrap started. */
export interface DatabaseHandle {
  readonly url: string;
  readonly embedded?: EmbeddedPostgresServer;
  close(): Promise<void>;
}

const logger = new Logger('Database');

/** Reads the bootstrap options from the environment (see the README's configuration table). */
export function databaseOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): DatabaseBootstrapOptions {
  return {
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.EMBEDDED_PG_DATA_DIR || path.resolve('.data', 'postgres'),
    port: env.EMBEDDED_PG_PORT ? Number(env.EMBEDDED_PG_PORT) : 54329,
  };
}

/**
 * Returns a reachable, migrated database: the one at `databaseUrl`, or an embedded server
 * started from the `embedded-postgres` package. Connection failures are retried with
 * {@link STARTUP_RETRY_POLICY} and end in one {@link DatabaseUnavailableError}.
 */
export async function bootstrapDatabase(
  options: DatabaseBootstrapOptions,
): Promise<DatabaseHandle> {
  let embedded: EmbeddedPostgresServer | undefined;
  let url = options.databaseUrl;
  if (!url) {
    const dataDir = options.dataDir ?? path.resolve('.data', 'postgres');
    embedded = new EmbeddedPostgresServer({
      dataDir,
      port: options.port ?? 54329,
      onLog: (line) => logger.verbose(line),
    });
    logger.log(`Starting embedded PostgreSQL (data in ${dataDir})`);
    await embedded.start();
    const name = options.databaseName ?? 'nestjs_integration';
    await ensureDatabase(embedded.url('postgres'), name);
    url = embedded.url(name);
    logger.log(`Embedded PostgreSQL ready on 127.0.0.1:${embedded.port}`);
  }
  const server = embedded;
  try {
    await waitForDatabase(url, options);
    if (options.migrate !== false) {
      const applied = await migrateLatest(url);
      if (applied.length) logger.log(`Applied migrations: ${applied.join(', ')}`);
    }
  } catch (error) {
    await server?.stop();
    throw error;
  }
  return {
    url,
    embedded: server,
    close: async () => {
      await server?.stop();
    },
  };
}

/** Connects once with `select 1`, retrying with the policy; throws {@link DatabaseUnavailableError}. */
export async function waitForDatabase(
  url: string,
  options: Pick<DatabaseBootstrapOptions, 'retryPolicy' | 'connectTimeoutMs'> = {},
): Promise<void> {
  const policy = options.retryPolicy ?? STARTUP_RETRY_POLICY;
  let attempts = 0;
  try {
    await retryAsync(
      async (attempt) => {
        attempts = attempt;
        const client = new Client({
          connectionString: url,
          connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
        });
        client.on('error', () => undefined);
        try {
          await client.connect();
          await client.query('select 1');
        } finally {
          await client.end().catch(() => undefined);
        }
      },
      {
        policy,
        onRetry: (error, attempt, delay) =>
          logger.warn(
            `PostgreSQL at ${maskDatabaseUrl(url)} not reachable (attempt ${attempt}/${policy.maxAttempts}): ` +
              `${error instanceof Error ? error.message : String(error)}; retrying in ${delay} ms`,
          ),
      },
    );
  } catch (error) {
    throw new DatabaseUnavailableError(maskDatabaseUrl(url), attempts, error);
  }
}

/** Creates database `name` on the server of `adminUrl` (a URL of another database) when missing. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}
