import type { SqlExecutor } from './sql-executor';

/**
 * Sends a NOTIFY on `channel` through `sql` (on its own, outside any transaction, when `sql` is
 * the root executor): every processor LISTENing there wakes at once instead of at its next poll.
 * A lost NOTIFY costs one poll, so callers treat a failure as a missed shortcut.
 */
export function wakeProcessors(sql: SqlExecutor, channel: string): Promise<unknown> {
  return sql.query('SELECT pg_notify($1::text, $2::text)', [channel, '']);
}
