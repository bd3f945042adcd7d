import { OutboxRepository } from '../../src/integration/outbox/outbox.repository';
import { createBenchApp } from '../lib/integration-app';
import { benchPool, type BenchServer } from '../lib/server';
import { nowMs, percentiles, type Percentiles } from '../lib/stats';
import { WORKLOAD_DDL } from '../lib/workload';
import { pgAdapter } from '../../src/integration';

/** Scenario 6a figures of one run. */
export interface ClaimRun {
  readonly retainedProcessed: number;
  /** The processor's claim statement taking 100 due events, ms. */
  readonly claim: Percentiles;
  /** The same statement when nothing is due (an idle poll), ms. */
  readonly idleClaim: Percentiles;
}

const INSERT_PENDING = `
  INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
  SELECT gen_random_uuid(), 'order.placed', 'order', g::text, 'order:' || g,
         jsonb_build_object('orderId', g, 'customer', 'customer-' || (g % 1000),
                            'amount', g % 97 + 1, 'note', 'benchmark order')
    FROM generate_series($1::int, $2::int) g`;

/**
 * 6a: the processor's own claim statement (OutboxRepository.claim, batch 100) on a table holding
 * `retained` processed rows (kept, as with the default 7-day purge), measured `iterations` times:
 * insert 100 due events, claim them (timed), delete them; plus an idle claim (timed).
 */
export async function claimLatency(
  server: BenchServer,
  retained: number,
  iterations: number,
): Promise<ClaimRun> {
  return server.withDatabase(`scale-claim-${retained}`, async (db) => {
    const pool = benchPool(db.url, 2);
    const bench = await createBenchApp(pool, { consumers: 0, listen: false });
    const repository = bench.app.get(OutboxRepository);
    const root = pgAdapter(pool).root;
    try {
      await pool.query(WORKLOAD_DDL);
      for (let first = 1; first <= retained; first += 200_000) {
        const last = Math.min(retained, first + 199_999);
        await pool.query(
          `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload,
                                     status, attempt_count, processed_at, created_at, updated_at)
           SELECT gen_random_uuid(), 'order.placed', 'order', g::text, 'order:' || g,
                  jsonb_build_object('orderId', g, 'customer', 'customer-' || (g % 1000),
                                     'amount', g % 97 + 1, 'note', 'benchmark order'),
                  'processed', 1, now(), now(), now()
             FROM generate_series($1::int, $2::int) g`,
          [first, last],
        );
      }
      await pool.query('VACUUM ANALYZE outbox_event');
      const claims: number[] = [];
      const idle: number[] = [];
      let next = retained + 1;
      for (let i = 0; i < iterations + 5; i++) {
        await pool.query(INSERT_PENDING, [next, next + 99]);
        next += 100;
        let t = nowMs();
        const events = await repository.claim(root, 'scale', 100, 30_000);
        const claimMs = nowMs() - t;
        if (events.length !== 100) throw new Error(`claimed ${events.length} of 100`);
        // Deleted, not settled: the table keeps exactly `retained` processed rows.
        await pool.query('DELETE FROM outbox_event WHERE id = ANY($1::uuid[])', [
          events.map((e) => e.id),
        ]);
        t = nowMs();
        const none = await repository.claim(root, 'scale', 100, 30_000);
        const idleMs = nowMs() - t;
        if (none.length !== 0) throw new Error('idle claim found events');
        if (i >= 5) {
          // the first five warm the caches
          claims.push(claimMs);
          idle.push(idleMs);
        }
      }
      return {
        retainedProcessed: retained,
        claim: percentiles(claims),
        idleClaim: percentiles(idle),
      };
    } finally {
      await bench.close();
      await pool.end();
    }
  });
}
