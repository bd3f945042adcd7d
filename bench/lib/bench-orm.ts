import { PrismaPg } from '@prisma/adapter-pg';
import knexFactory, { type Knex } from 'knex';
import type { Pool } from 'pg';
import { PrismaClient, type Prisma } from '../../src/generated/prisma/client';
import {
  knexAdapter,
  pgAdapter,
  prismaAdapter,
  type IntegrationDatabaseAdapter,
} from '../../src/integration';
import { benchPool } from './server';

/** The library's database adapters the drain scenario compares (issue 18, target 3). */
export const BENCH_ADAPTERS = ['pg', 'knex', 'prisma'] as const;
export type BenchAdapter = (typeof BENCH_ADAPTERS)[number];

/** The projection row the bench handler writes for one delivery. */
export interface ProjectionRow {
  readonly eventId: string;
  readonly consumer: string;
  readonly orderId: number;
  readonly amount: number;
}

/**
 * One ORM's client in a processor process: the library's adapter over it, and the handler's
 * write of one projection row through `ctx.tx`, written as a user of that ORM would.
 */
export interface BenchOrm {
  readonly kind: BenchAdapter;
  readonly adapter: IntegrationDatabaseAdapter;
  /** The pg pool under the pg adapter (for the recording wrapper); undefined for Knex and Prisma. */
  readonly pool?: Pool;
  insertProjection(tx: unknown, row: ProjectionRow): Promise<void>;
  close(): Promise<void>;
}

const INSERT_PG =
  'INSERT INTO bench_projection (event_id, consumer, order_id, amount) VALUES ($1, $2, $3, $4)';

/** The pg adapter over a bench pool (the handler's INSERT on the batch's pg client). */
export function pgOrm(pool: Pool): BenchOrm {
  return {
    kind: 'pg',
    adapter: pgAdapter(pool),
    pool,
    insertProjection: async (tx, row) => {
      await (tx as Pool).query(INSERT_PG, [row.eventId, row.consumer, row.orderId, row.amount]);
    },
    close: () => pool.end(),
  };
}

/**
 * The clients of `kind` on `url` with `poolSize` connections. pg: a pg Pool, pipelined when
 * asked. Knex: `knex({ client: 'pg' })`; the handler uses the query builder
 * (`trx('bench_projection').insert(…)`). Prisma 7: `PrismaClient` on `@prisma/adapter-pg`; the
 * handler uses `$executeRaw` (the bench table has no Prisma model; a model's `create` would add
 * a RETURNING and the client's result mapping).
 */
export function createBenchOrm(
  kind: BenchAdapter,
  url: string,
  poolSize: number,
  options: { pipeline?: boolean } = {},
): BenchOrm {
  switch (kind) {
    case 'pg':
      return pgOrm(benchPool(url, poolSize, options));
    case 'knex': {
      const knex = knexFactory({
        client: 'pg',
        connection: { connectionString: url },
        pool: { min: 0, max: poolSize },
      });
      return {
        kind,
        adapter: knexAdapter(knex),
        insertProjection: async (tx, row) => {
          await (tx as Knex.Transaction)('bench_projection').insert({
            event_id: row.eventId,
            consumer: row.consumer,
            order_id: row.orderId,
            amount: row.amount,
          });
        },
        close: () => knex.destroy(),
      };
    }
    case 'prisma': {
      const prisma = new PrismaClient({
        adapter: new PrismaPg({ connectionString: url, max: poolSize }),
      });
      return {
        kind,
        adapter: prismaAdapter(prisma),
        insertProjection: async (tx, row) => {
          await (tx as Prisma.TransactionClient).$executeRaw`
            INSERT INTO bench_projection (event_id, consumer, order_id, amount)
            VALUES (${row.eventId}, ${row.consumer}, ${row.orderId}, ${row.amount})`;
        },
        close: () => prisma.$disconnect(),
      };
    }
  }
}
