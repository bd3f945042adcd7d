import type { PoolClient } from 'pg';
import { benchPool } from '../lib/server';
import { workerMain } from '../lib/worker';
import { insertOrder, payloadFor, publishAtRate, seedInTransactions } from '../lib/workload';
import { createBoss, type BenchBoss, type PgBossDb, type PgBossMajor } from './pg-boss-api';

/**
 * The application side of a pg-boss run, in a process of the pg-boss major's Node (pg-boss 12
 * needs Node >= 22.12, the bench's parent runs Node 20): installs pg-boss's schema and creates the
 * queue before `ready`; on `go` seeds a backlog (`seed`) or publishes at a steady rate
 * (`publish`), each job written inside its business transaction through pg-boss's `db` option.
 */
export type PgBossClientArgs = {
  readonly url: string;
  readonly major: PgBossMajor;
  readonly queue: string;
  /** The queue's `notify` option (pg-boss 12: a NOTIFY with each job created). */
  readonly notify: boolean;
} & (
  | { readonly mode: 'seed'; readonly events: number; readonly schema: string }
  | { readonly mode: 'publish'; readonly rate: number; readonly durationMs: number }
);

/** `seed`: nothing; `publish`: the commit time of each measured job (see `publishAtRate`). */
export type PgBossClientResult = Awaited<ReturnType<typeof publishAtRate>> | { seeded: number };

/** pg-boss's `db` option: run its statement on the business transaction's connection. */
function inTransaction(client: PoolClient): PgBossDb {
  return { executeSql: (text, values) => client.query(text, values) };
}

async function seed(
  boss: BenchBoss,
  args: PgBossClientArgs & { mode: 'seed' },
): Promise<{ seeded: number }> {
  const pool = benchPool(args.url, 4);
  try {
    await seedInTransactions(pool, args.events, 100, 4, async (client, first, n) => {
      const payloads = Array.from({ length: n }, (_, k) => payloadFor(first + k));
      const { rows } = await client.query<{ id: string }>(
        `INSERT INTO bench_order (customer, amount)
         SELECT customer, amount FROM unnest($1::text[], $2::int[]) WITH ORDINALITY AS t(customer, amount, i)
         ORDER BY i RETURNING id`,
        [payloads.map((p) => p.customer), payloads.map((p) => p.amount)],
      );
      await boss.insert(
        args.queue,
        payloads.map((p, k) => ({ ...p, orderId: Number(rows[k]!.id) })),
        inTransaction(client),
      );
    });
    await pool.query(`VACUUM ANALYZE ${args.schema}.job`);
  } finally {
    await pool.end();
  }
  return { seeded: args.events };
}

workerMain<PgBossClientArgs, PgBossClientResult>(async (args, io) => {
  const boss = await createBoss(args.major, {
    connectionString: args.url,
    max: 2,
    supervise: false,
    schedule: false,
    application_name: 'bench-pgboss-client',
  });
  boss.on('error', (error) => process.stderr.write(`pg-boss client error: ${error.message}\n`));
  await boss.start();
  try {
    await boss.createQueue(args.queue, { notify: args.notify });
    io.ready();
    await io.go;
    if (args.mode === 'seed') return await seed(boss, args);
    const pool = benchPool(args.url, 16);
    try {
      return await publishAtRate(pool, args.rate, args.durationMs, async (client, n) => {
        const orderId = await insertOrder(client, n);
        const id = await boss.send(
          args.queue,
          { ...payloadFor(n), orderId },
          inTransaction(client),
        );
        if (!id) throw new Error('pg-boss send returned no job id');
        return id;
      });
    } finally {
      await pool.end();
    }
  } finally {
    await boss.stop({ graceful: false });
  }
});
