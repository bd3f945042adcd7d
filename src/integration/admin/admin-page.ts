import type { Page } from './admin.types';

/**
 * A page from rows read with `LIMIT limit + 1`: the first `limit` rows, and the cursor of the
 * last of them when the extra row shows that more follow.
 */
export function toPage<TRow, T>(
  rows: readonly TRow[],
  limit: number,
  map: (row: TRow) => T,
  cursor: (row: TRow) => string,
): Page<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(map),
    nextCursor: rows.length > limit && last !== undefined ? cursor(last) : null,
  };
}
