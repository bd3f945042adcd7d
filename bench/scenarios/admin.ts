import { pgAdapter } from '../../src/integration';
import { AdminOperations } from '../../src/integration/admin/admin-operations';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import type { AdminDeliveryFilter } from '../../src/integration';
import { benchPool, type BenchServer } from '../lib/server';
import { fmt, ms, type Table, type TargetCheck } from '../lib/report';
import type { Scenario } from '../lib/scenario';
import { medianPercentiles, nowMs, percentiles, type Percentiles } from '../lib/stats';

/** The listings scenario 7a times, each with filter values drawn per call. */
export const ADMIN_LISTINGS = [
  'no filter',
  'by consumer',
  'by event name',
  'by correlation id',
  'second page (cursor)',
] as const;

/** One run of scenario 7a: `listDeliveries` latency per listing, ms. */
export interface AdminListRun {
  readonly deadLetters: number;
  readonly listings: Readonly<Record<(typeof ADMIN_LISTINGS)[number], Percentiles>>;
}

const CONSUMERS = ['billing', 'mailer', 'audit', 'search'];
const EVENT_NAMES = ['order.placed', 'order.paid', 'order.shipped', 'vault.locked', 'vault.opened'];
/** Events sharing one correlation id (one business flow). */
const FLOW_SIZE = 10;

/**
 * Events `$1..$2`, each with a dead letter for every consumer: names cycle through
 * {@link EVENT_NAMES}, correlation ids group {@link FLOW_SIZE} events, dead-lettered over the last
 * day (one settle's timestamp shared by a few rows, as in real settles).
 */
const INSERT_DEAD_LETTERS = `
  WITH ev AS (
    INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload,
                              correlation_id, created_at)
    SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid,
           ($3::text[])[1 + g % cardinality($3::text[])], 'order', g::text, 'order:' || g,
           jsonb_build_object('orderId', g, 'note', 'benchmark order'),
           'flow-' || (g / ${FLOW_SIZE}), now() - interval '1 day' + g * interval '500 ms'
      FROM generate_series($1::int, $2::int) g
    RETURNING id, ordering_key, (aggregate_id)::bigint AS n, created_at
  )
  INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key, status,
                                    attempt_count, last_error, updated_at)
  SELECT id, c, n, ordering_key, 'dead_letter', 10, 'Error: connect ECONNREFUSED 10.0.0.1:443',
         date_trunc('second', created_at) + interval '2 minutes'
    FROM ev CROSS JOIN unnest($4::text[]) c`;

/**
 * 7a (issue 15, acceptance 5): `AdminOperations.listDeliveries` (page of 50) on a table of
 * `deadLetters` dead letters over four consumers and five event names, through the pg adapter's
 * prepared statements as the admin HTTP module runs them; `iterations` calls per listing.
 */
export async function adminListLatency(
  server: BenchServer,
  deadLetters: number,
  iterations: number,
): Promise<AdminListRun> {
  return server.withDatabase(`admin-list-${deadLetters}`, async (db) => {
    const pool = benchPool(db.url, 2);
    try {
      const events = Math.ceil(deadLetters / CONSUMERS.length);
      for (let first = 1; first <= events; first += 10_000) {
        await pool.query(INSERT_DEAD_LETTERS, [
          first,
          Math.min(events, first + 9_999),
          EVENT_NAMES,
          CONSUMERS,
        ]);
      }
      await pool.query('VACUUM ANALYZE outbox_event, integration_delivery');
      const admin = new AdminOperations(pgAdapter(pool).root, { tables: new IntegrationTables() });
      const pick = <T>(values: readonly T[]): T =>
        values[Math.floor(Math.random() * values.length)]!;
      const filters: Record<(typeof ADMIN_LISTINGS)[number], () => AdminDeliveryFilter> = {
        'no filter': () => ({}),
        'by consumer': () => ({ consumer: pick(CONSUMERS) }),
        'by event name': () => ({ eventName: pick(EVENT_NAMES) }),
        'by correlation id': () => ({
          correlationId: `flow-${Math.floor((Math.random() * events) / FLOW_SIZE)}`,
        }),
        'second page (cursor)': () => ({ consumer: pick(CONSUMERS) }),
      };
      const listings = {} as Record<(typeof ADMIN_LISTINGS)[number], Percentiles>;
      for (const listing of ADMIN_LISTINGS) {
        const times: number[] = [];
        // A few untimed calls first: connections, prepared statements, cache.
        for (let i = 0; i < iterations + 10; i++) {
          const filter = filters[listing]();
          let after: string | undefined;
          if (listing === 'second page (cursor)') {
            after = (await admin.listDeliveries(filter)).nextCursor ?? undefined;
          }
          const t = nowMs();
          const page = await admin.listDeliveries(filter, after ? { after } : {});
          if (i >= 10) times.push(nowMs() - t);
          if (page.items.length === 0) throw new Error(`7a: ${listing} listed nothing`);
        }
        listings[listing] = percentiles(times);
      }
      return { deadLetters, listings };
    } finally {
      await pool.end();
    }
  });
}

/** Scenario 7a: the admin listings' latency over many dead letters. */
export const adminScenario: Scenario = {
  name: 'admin',
  async run({ server, plan, repeat }) {
    const runs = await repeat(
      plan.repeats,
      `7a admin listDeliveries, ${fmt(plan.adminDeadLetters)} dead letters`,
      () => adminListLatency(server, plan.adminDeadLetters, plan.adminIterations),
    );
    const tables: Table[] = [];
    const checks: TargetCheck[] = [];
    const listing = (name: (typeof ADMIN_LISTINGS)[number]): Percentiles =>
      medianPercentiles(runs.map((r) => r.listings[name]));
    tables.push({
      title: `7a. Admin listDeliveries (page of 50) with ${fmt(plan.adminDeadLetters)} dead letters`,
      header: ['Listing', 'p50 ms', 'p95 ms', 'p99 ms'],
      rows: ADMIN_LISTINGS.map((name) => {
        const p = listing(name);
        return [name, ms(p.p50), ms(p.p95), ms(p.p99)];
      }),
    });
    const worst = Math.max(...ADMIN_LISTINGS.map((name) => listing(name).p95));
    checks.push({
      target: `Admin listing p95 < 50 ms with ${fmt(plan.adminDeadLetters)} dead letters (every listing of 7a)`,
      measured: `${ms(worst)} ms (worst p95)`,
      pass: worst < 50,
    });
    return { results: { admin: runs }, tables, checks };
  },
};
