import { Pool, type PoolClient } from 'pg';
import {
  EventSubscriberRegistry,
  JitterMode,
  MAX_CONFLICT_RETRIES,
  OutboxProcessor,
  pgAdapter,
  type TransactionMode,
} from '../../src/integration';
import { isTransactionConflict } from '../../src/integration/subscribers/transaction-conflict';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
  type OrmKind,
} from '../support/integration-app';
import { execIn } from '../support/orm-sql';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate } from '../support/wait-for';

const noRetryDelay = { maxAttempts: 5, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None };
const BUMP = 'update hs_ledger set n = n + 1 where id = $1';

/** Resolves once `parties` callers are waiting, so that each holds its first lock meanwhile. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  const all = gate();
  return async () => {
    if (++arrived >= parties) all.open();
    await all.promise;
  };
}

describe('deadlocks and serialization failures in consumer transactions (hardening #14)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let pipelined: Pool;
  const apps: IntegrationTestApp[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    pipelined = new Pool({ connectionString: db.url, max: 6, pipeline: true });
    pipelined.on('error', () => undefined);
    // Deadlocks are detected after deadlock_timeout (1 s by default): keep the suite quick.
    await pool.query(`alter database "${db.name}" set deadlock_timeout = '50ms'`);
    await pool.query('create table hs_ledger (id int primary key, n int not null)');
  });
  beforeEach(async () => {
    await pool.query('insert into hs_ledger values (1, 0), (2, 0)');
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await pool.query(
      'truncate hs_ledger, outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pipelined.end();
    await pool.end();
    await db.drop();
  });

  const rows = async (sql: string) => (await pool.query(sql)).rows;
  /** Every delivery, in publish order then by consumer. */
  const deliveryRows = () =>
    rows(
      `select d.consumer_name, o.aggregate_id, d.status, d.attempt_count, d.last_error
         from integration_delivery d join outbox_event o on o.id = d.event_id
        order by o.seq, d.consumer_name`,
    );

  describe.each<[OrmKind, TransactionMode, string]>([
    ['pg', 'batch', ''],
    ['knex', 'batch', ''],
    ['prisma', 'batch', ''],
    ['pg', 'per-event', ''],
    ['knex', 'per-event', ''],
    ['prisma', 'per-event', ''],
    ['pg', 'batch', ' and lanes (concurrency 4, pipelined pool)'],
  ])('with %s, transactional %s%s', (orm, transactional, lanes) => {
    it('re-runs the deadlocked consumer transaction at once: processed, attempt_count 1, effects once (hardening #14)', async () => {
      const t = await createIntegrationApp(db.url, {
        orm,
        integration: {
          ...(lanes ? { database: pgAdapter(pipelined) } : {}),
          processor: { retry: noRetryDelay },
        },
      });
      apps.push(t);
      const bothHoldTheirFirstRow = barrier(2);
      const calls = { a: 0, b: 0 };
      const failures: unknown[] = [];
      // Two consumers of one event write the two ledger rows in opposite orders, each waiting,
      // holding its first row, until the other holds its own: a deadlock every time.
      const consumer = (name: 'a' | 'b', first: number, second: number) => ({
        pattern: 'ledger.moved',
        consumer: `ledger-${name}`,
        name: `Ledger.${name}`,
        transactional,
        ...(lanes ? { concurrency: 4 } : {}),
        handle: async (_e: unknown, ctx: { tx: unknown }) => {
          const firstCall = calls[name]++ === 0;
          await execIn(orm, ctx.tx, BUMP, [first]);
          if (firstCall) await bothHoldTheirFirstRow();
          try {
            await execIn(orm, ctx.tx, BUMP, [second]);
          } catch (error) {
            failures.push(error);
            throw error;
          }
        },
      });
      const registry = t.app.get(EventSubscriberRegistry);
      registry.register(consumer('a', 1, 2));
      registry.register(consumer('b', 2, 1));
      await publishAll(t, [
        { name: 'ledger.moved', aggregateType: 'Ledger', aggregateId: 'l1', payload: {} },
      ]);

      // One delivery per consumer, claimed in one batch and run side by side.
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
        claimed: 2,
        processed: 2,
        retried: 0,
        deadLettered: 0,
      });
      // PostgreSQL chose one victim; its consumer ran again, the other ran once.
      expect(failures).toHaveLength(1);
      expect(isTransactionConflict(failures[0])).toBe(true);
      expect(calls.a + calls.b).toBe(3);
      expect(await deliveryRows()).toEqual([
        {
          consumer_name: 'ledger-a',
          aggregate_id: 'l1',
          status: 'processed',
          attempt_count: 1,
          last_error: null,
        },
        {
          consumer_name: 'ledger-b',
          aggregate_id: 'l1',
          status: 'processed',
          attempt_count: 1,
          last_error: null,
        },
      ]);
      // Each consumer bumped each row once: no effect lost, none doubled.
      expect(await rows('select id, n from hs_ledger order by id')).toEqual([
        { id: 1, n: 2 },
        { id: 2, n: 2 },
      ]);
    });
  });

  it('two batches of one consumer writing the ledger rows in opposite orders both commit, attempt_count 1 (hardening #14)', async () => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: { processor: { batchSize: 1, retry: noRetryDelay } },
    });
    apps.push(t);
    const bothHoldTheirFirstRow = barrier(2);
    const calls = new Map<string, number>();
    const failures: unknown[] = [];
    t.app.get(EventSubscriberRegistry).register<{ rows: [number, number] }, PoolClient>({
      pattern: 'ledger.moved',
      consumer: 'ledger',
      name: 'Ledger.move',
      handle: async (e, ctx) => {
        const n = calls.get(e.id) ?? 0;
        calls.set(e.id, n + 1);
        const [first, second] = e.payload.rows;
        await ctx.tx.query(BUMP, [first]);
        if (n === 0) await bothHoldTheirFirstRow();
        try {
          await ctx.tx.query(BUMP, [second]);
        } catch (error) {
          failures.push(error);
          throw error;
        }
      },
    });
    await publishAll(t, [
      {
        name: 'ledger.moved',
        aggregateType: 'Ledger',
        aggregateId: 'x',
        payload: { rows: [1, 2] },
      },
      {
        name: 'ledger.moved',
        aggregateType: 'Ledger',
        aggregateId: 'y',
        payload: { rows: [2, 1] },
      },
    ]);
    const processor = t.app.get(OutboxProcessor);
    // Two batches of one event each, in flight together as with processor.concurrency 2.
    const results = await Promise.all([processor.processBatch(), processor.processBatch()]);
    expect(results.map((r) => [r.claimed, r.processed, r.retried])).toEqual([
      [1, 1, 0],
      [1, 1, 0],
    ]);
    expect(failures).toHaveLength(1);
    expect(isTransactionConflict(failures[0])).toBe(true);
    expect([...calls.values()].sort()).toEqual([1, 2]);
    expect((await deliveryRows()).map((r) => [r.aggregate_id, r.status, r.attempt_count])).toEqual([
      ['x', 'processed', 1],
      ['y', 'processed', 1],
    ]);
    expect(await rows('select id, n from hs_ledger order by id')).toEqual([
      { id: 1, n: 2 },
      { id: 2, n: 2 },
    ]);
  });

  it('a conflict in the isolated pass re-runs that pass, keeping the failure the first pass found (hardening #14)', async () => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: { processor: { retry: noRetryDelay } },
    });
    apps.push(t);
    const calls = { broken: 0, victim: 0 };
    t.app.get(EventSubscriberRegistry).register<{ role: 'broken' | 'victim' }, PoolClient>({
      pattern: 'ledger.moved',
      consumer: 'ledger',
      name: 'Ledger.move',
      handle: async (e, ctx) => {
        const n = calls[e.payload.role]++;
        // The first event fails for good: the batch goes to the isolated pass without it.
        if (e.payload.role === 'broken') throw new Error('broken event');
        await ctx.tx.query(BUMP, [1]);
        // The second event's first run (in the isolated pass) is a deadlock victim.
        if (n === 0) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
      },
    });
    await publishAll(t, [
      {
        name: 'ledger.moved',
        aggregateType: 'Ledger',
        aggregateId: 'a',
        payload: { role: 'broken' },
      },
      {
        name: 'ledger.moved',
        aggregateType: 'Ledger',
        aggregateId: 'b',
        payload: { role: 'victim' },
      },
    ]);
    expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
      claimed: 2,
      processed: 1,
      retried: 1,
    });
    // The broken event ran once (first pass), the victim twice (isolated pass, then its re-run).
    expect(calls).toEqual({ broken: 1, victim: 2 });
    expect(await deliveryRows()).toEqual([
      {
        consumer_name: 'ledger',
        aggregate_id: 'a',
        status: 'pending',
        attempt_count: 1,
        last_error: 'Error: broken event',
      },
      {
        consumer_name: 'ledger',
        aggregate_id: 'b',
        status: 'processed',
        attempt_count: 1,
        last_error: null,
      },
    ]);
    expect(await rows('select id, n from hs_ledger order by id')).toEqual([
      { id: 1, n: 1 },
      { id: 2, n: 0 },
    ]);
  });

  it.each<TransactionMode>(['batch', 'per-event'])(
    '%s: gives up after MAX_CONFLICT_RETRIES re-runs, then the conflict is an ordinary failure, one attempt counted (hardening #14)',
    async (transactional) => {
      const t = await createIntegrationApp(db.url, {
        orm: 'pg',
        integration: { processor: { retry: noRetryDelay } },
      });
      apps.push(t);
      let calls = 0;
      t.app.get(EventSubscriberRegistry).register({
        pattern: 'ledger.moved',
        consumer: 'always-deadlocked',
        name: 'Ledger.always',
        transactional,
        handle: () => {
          calls++;
          // As pg reports it, so without the cost of provoking a real deadlock five times.
          throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        },
      });
      await publishAll(t, [
        { name: 'ledger.moved', aggregateType: 'Ledger', aggregateId: 'l1', payload: {} },
      ]);
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
        claimed: 1,
        processed: 0,
        retried: 1,
      });
      expect(calls).toBe(1 + MAX_CONFLICT_RETRIES);
      expect(await deliveryRows()).toEqual([
        {
          consumer_name: 'always-deadlocked',
          aggregate_id: 'l1',
          status: 'pending',
          attempt_count: 1,
          last_error: 'Error: deadlock detected',
        },
      ]);
    },
  );
});
