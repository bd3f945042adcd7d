import { Client } from 'pg';
import { withApplicationName } from '../database/application-name';
import type { SqlExecutor } from '../database/sql-executor';
import { CliUsageError } from './cli-usage.error';

/** Application name the CLI's connections show in `pg_stat_activity`. */
export const CLI_APPLICATION_NAME = 'nestjs-integration';

/** Checks the database URL (`--database-url` or `DATABASE_URL`) before connecting. */
export function databaseUrl(value: string | undefined): string {
  if (!value) {
    throw new CliUsageError('no database: pass --database-url postgres://… or set DATABASE_URL');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new CliUsageError(
      '--database-url is not a URL: expected postgres://user:password@host:port/database',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new CliUsageError(
      `--database-url must start with postgres:// or postgresql:// (got ${url.protocol}//)`,
    );
  }
  return value;
}

/** Runs `fn` on one connection to `url`, closed afterwards whatever happens. */
export async function withClient<T>(url: string, fn: (client: Client) => Promise<T>): Promise<T> {
  // Named unless the URL (`?application_name=`) or PGAPPNAME names it already.
  const client = new Client(
    withApplicationName(
      { connectionString: url, connectionTimeoutMillis: 10_000 },
      CLI_APPLICATION_NAME,
    ),
  );
  // A connection lost mid-run rejects the pending query; without a listener it would also crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    throw new Error(
      `cannot connect to ${maskPassword(url)}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The CLI's one connection as the repositories' executor. */
export function clientExecutor(client: Client): SqlExecutor {
  return {
    query: async <TRow>(sql: string, params: readonly unknown[] = []) => {
      const result = await client.query(sql, [...params]);
      return { rows: result.rows as TRow[], rowCount: result.rowCount ?? result.rows.length };
    },
  };
}

function maskPassword(value: string): string {
  const url = new URL(value);
  if (url.password) url.password = '***';
  return url.toString();
}
