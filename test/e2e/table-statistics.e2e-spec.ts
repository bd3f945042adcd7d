import { Injectable } from '@nestjs/common';
import { Pool } from 'pg';
import { IntegrationConsumer, OnIntegrationEvent } from '../../src/integration';
import { FIRST_STATISTICS_MIN_PAGES } from '../../src/integration/processing/table-statistics';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { thingEvent } from '../support/effect-fixture';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const TABLES = ['outbox_event', 'integration_delivery'];

@Injectable()
@IntegrationConsumer('stats')
class StatsConsumer {
  @OnIntegrationEvent('**')
  async on(): Promise<void> {}
}

/**
 * Prepared statements keep the plan made while a table was new and small until the table is
 * first analyzed: the processor analyzes its growing tables once they are large enough, instead
 * of leaving them to autovacuum's first round (see TableStatistics).
 */
describe('first statistics of the growing tables', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: IntegrationTestApp | undefined;

  /** Per table: whether PostgreSQL has statistics for it, and its size in pages. */
  const statistics = async (): Promise<Record<string, { analyzed: boolean; pages: number }>> => {
    const { rows } = await pool.query<{ relname: string; analyzed: boolean; pages: number }>(
      `select relname, reltuples >= 0 as analyzed,
              (pg_relation_size(oid) / current_setting('block_size')::int)::int as pages
         from pg_class where relname = any ($1::text[]) and relnamespace = 'public'::regnamespace`,
      [TABLES],
    );
    return Object.fromEntries(
      rows.map((r) => [r.relname, { analyzed: r.analyzed, pages: r.pages }]),
    );
  };

  const processedCount = async (): Promise<number> =>
    (
      await pool.query<{ n: number }>(
        `select count(*)::int as n from integration_delivery where status = 'processed'`,
      )
    ).rows[0]!.n;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    // Only the processor may analyze them in this test.
    for (const table of TABLES)
      await pool.query(`alter table ${table} set (autovacuum_enabled = false)`);
  });
  afterAll(async () => {
    await app?.close();
    await pool.end();
    await db.drop();
  });

  it('analyzes the outbox and the deliveries once they have grown, not while they are small', async () => {
    app = await createIntegrationApp(db.url, {
      integration: { processor: { enabled: true, workerId: 'stats', idlePollIntervalMs: 100 } },
      metadata: { providers: [StatsConsumer] },
    });

    await publishAll(app, [thingEvent('small.one', 'A'), thingEvent('small.two', 'B')]);
    await waitFor(async () => (await processedCount()) === 2, 10_000, 'the first two events');
    // Several sequencer runs and statistics checks later (the checks are a second apart)...
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await publishAll(app, [thingEvent('small.three', 'C')]);
    await waitFor(async () => (await processedCount()) === 3, 10_000, 'the third event');
    const small = await statistics();
    expect(small.outbox_event).toEqual({ analyzed: false, pages: expect.any(Number) });
    expect(small.integration_delivery!.analyzed).toBe(false);
    expect(small.integration_delivery!.pages).toBeLessThan(FIRST_STATISTICS_MIN_PAGES);

    // Grow both tables past the threshold while the processor runs.
    let published = 3;
    while (
      Object.values(await statistics()).some((t) => t.pages < FIRST_STATISTICS_MIN_PAGES) &&
      published < 20_000
    ) {
      await publishAll(
        app,
        Array.from({ length: 200 }, (_, i) =>
          thingEvent('grow.tick', `K${published + i}`, { n: published + i }),
        ),
      );
      published += 200;
    }
    expect(published).toBeLessThan(20_000);
    // One more event after the growth: a sequencer run that sees the grown tables.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await publishAll(app, [thingEvent('grow.last', 'Z')]);
    await waitFor(
      async () => Object.values(await statistics()).every((t) => t.analyzed),
      15_000,
      'statistics for both tables',
    );
    await waitFor(async () => (await processedCount()) === published + 1, 30_000, 'every event');
  });
});
