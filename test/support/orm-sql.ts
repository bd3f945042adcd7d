import type { PoolClient } from 'pg';
import type { OrmKind } from './integration-app';

/** Runs parameterized SQL ($1…) through a transaction handle of any of the three ORMs. */
export async function execIn(
  kind: OrmKind,
  tx: unknown,
  sql: string,
  params: unknown[] = [],
): Promise<void> {
  if (kind === 'prisma') {
    await (
      tx as { $executeRawUnsafe: (q: string, ...v: unknown[]) => Promise<number> }
    ).$executeRawUnsafe(sql, ...params);
  } else if (kind === 'knex') {
    const bindings: unknown[] = [];
    const converted = sql.replace(/\$(\d+)/g, (_m, n: string) => {
      bindings.push(params[Number(n) - 1]);
      return '?';
    });
    await (tx as { raw: (q: string, b: unknown[]) => Promise<unknown> }).raw(converted, bindings);
  } else {
    await (tx as PoolClient).query(sql, params);
  }
}
