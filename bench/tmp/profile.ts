import { benchPool, BenchServer } from '../lib/server';
import { seedBacklog } from '../subjects/nestjs-integration';
import { WORKLOAD_DDL } from '../lib/workload';
import { createBenchApp } from '../lib/integration-app';
import { EventSequencer } from '../../src/integration/processing/event-sequencer.repository';
import { DeliveryRepository } from '../../src/integration/processing/delivery.repository';
import { BatchRunner } from '../../src/integration/processing/runners/batch.runner';
import { DeliveryMark } from '../../src/integration/processing/delivery-mark';
import { nowMs } from '../lib/stats';

const totals: Record<string, { n: number; ms: number }> = {};
function wrap(proto: object, name: string, label: string): void {
  const p = proto as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const orig = p[name]!;
  p[name] = async function (this: unknown, ...args: unknown[]) {
    const t = nowMs();
    try {
      return await orig.apply(this, args);
    } finally {
      const e = (totals[label] ??= { n: 0, ms: 0 });
      e.n++;
      e.ms += nowMs() - t;
    }
  };
}
wrap(EventSequencer.prototype, 'sequence', 'sequence');
wrap(DeliveryRepository.prototype, 'claim', 'claim');
wrap(DeliveryRepository.prototype, 'settle', 'settle');
wrap(BatchRunner.prototype, 'run', 'batchRunner.run');
wrap(DeliveryMark.prototype, 'mark', 'mark');

async function main(): Promise<void> {
  const events = Number(process.argv[2] ?? 20000);
  const server = await BenchServer.start();
  await server.withDatabase('profile', async (db) => {
    const admin = benchPool(db.url, 2);
    await admin.query(WORKLOAD_DDL);
    await seedBacklog(db, events);
    await admin.query('VACUUM ANALYZE outbox_event');
    const pool = benchPool(db.url, 20, { pipeline: true });
    const bench = await createBenchApp(pool, {
      consumers: Number(process.argv[3] ?? 1),
      listen: false,
      processor: { batchSize: 500, concurrency: 4, workerId: 'p' },
      eventConcurrency: 64,
    });
    const t0 = nowMs();
    await bench.processor.start();
    const target = events * Number(process.argv[3] ?? 1);
    while (bench.handled() < target) await new Promise((r) => setTimeout(r, 5));
    const secs = (nowMs() - t0) / 1000;
    const ids = (
      await admin.query<{ event_id: string }>(
        'select event_id::text from integration_delivery limit 500',
      )
    ).rows.map((r) => ({ event_id: r.event_id, consumer_name: 'consumer-1', attempt: 1 }));
    const markSql = (bench.app.get(DeliveryMark) as unknown as { statement: string }).statement;
    const plan = await admin.query('EXPLAIN ' + markSql, ['p', JSON.stringify(ids)]);
    console.log(plan.rows.map((r: Record<string, string>) => r['QUERY PLAN']).join('\n'));
    console.log(
      (
        await admin.query(
          "select relpages, reltuples from pg_class where relname = 'integration_delivery'",
        )
      ).rows,
    );
    await bench.close();
    await pool.end();
    await admin.end();
    console.log(
      `${events} events in ${secs.toFixed(2)} s = ${(target / secs).toFixed(0)} deliveries/s`,
    );
    for (const [k, v] of Object.entries(totals))
      console.log(
        `${k.padEnd(18)} n=${String(v.n).padStart(5)} total=${v.ms.toFixed(0)} ms avg=${(v.ms / v.n).toFixed(2)} ms`,
      );
  });
  await server.stop?.();
}
void main();
