import { Injectable } from '@nestjs/common';
import { Pool, type PoolClient } from 'pg';
import {
  IntegrationConsumer,
  OnIntegrationEvent,
  type HandlerContext,
  type IntegrationEvent,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { thingEvent } from '../support/effect-fixture';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/** Attempts seen per event (n), across handler calls. */
const attempts = new Map<number, number>();

@Injectable()
@IntegrationConsumer('steady', { retry: { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10 } })
class SteadyConsumer {
  @OnIntegrationEvent('tick.*')
  async on(event: IntegrationEvent<{ n: number }>, ctx: HandlerContext): Promise<void> {
    const n = event.payload.n;
    attempts.set(n, (attempts.get(n) ?? 0) + 1);
    // Event 0 fails its first attempt: its retry comes due 10 ms later.
    if (n === 0 && ctx.attempt === 1) throw new Error('first attempt of 0 fails');
    await (ctx.tx as PoolClient).query('insert into fc_effect (n) values ($1)', [n]);
  }
}

/**
 * The processor's sequencer run claims the deliveries it creates (one statement from commit to
 * handler), and a plain claim follows only when needed. What must still hold: a retry that
 * comes due while new events keep arriving is claimed within a poll interval, not after the
 * stream stops.
 */
describe('claims made by the sequencer run (issue 13 acceptance 5)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    await pool.query('create table fc_effect (n int primary key)');
  });
  afterEach(async () => {
    await app?.close();
    attempts.clear();
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('a retry that comes due while new events keep arriving is delivered before the stream ends', async () => {
    app = await createIntegrationApp(db.url, {
      integration: {
        processor: { enabled: true, workerId: 'fresh', idlePollIntervalMs: 100, batchSize: 20 },
      },
      metadata: { providers: [SteadyConsumer] },
    });
    await publishAll(app, [thingEvent('tick.first', 'R', { n: 0 })]);
    await waitFor(async () => attempts.get(0) === 1, 5_000, 'the first attempt of event 0');

    // A stream of new events on other keys from four publishers at once, so that every wake-up
    // finds new events to claim; it stops once event 0 is done (or after 20,000 events, which
    // fails the test).
    let published = 0;
    let zeroDone = false;
    const publisher = async (): Promise<void> => {
      while (published < 20_000 && !zeroDone) {
        const first = published + 1;
        published += 25;
        await publishAll(
          app,
          Array.from({ length: 25 }, (_, i) =>
            thingEvent('tick.next', `S${first + i}`, { n: first + i }),
          ),
        );
        zeroDone = (await pool.query('select 1 from fc_effect where n = 0')).rowCount === 1;
      }
    };
    await Promise.all([publisher(), publisher(), publisher(), publisher()]);
    expect(zeroDone).toBe(true);
    expect(attempts.get(0)).toBe(2);
    expect(published).toBeLessThan(20_000);
    // The stream is delivered too, once each.
    await waitFor(
      async () =>
        Number((await pool.query('select count(*)::int as n from fc_effect')).rows[0].n) ===
        published + 1,
      10_000,
      'every event of the stream',
    );
    expect([...attempts].filter(([n, count]) => n !== 0 && count !== 1)).toEqual([]);
  });
});
