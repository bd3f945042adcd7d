import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { pgAdapter } from '../../src/integration';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import type {
  IntegrationDatabaseAdapter,
  SqlExecutor,
} from '../../src/integration/database/sql-executor';
import { InvalidEventIdError } from '../../src/integration/errors/invalid-event-id.error';
import { InvalidQueryError } from '../../src/integration/errors/invalid-query.error';
import { MAX_ERROR_LENGTH } from '../../src/integration/database/stored-values';
import { checkReplayFilter } from '../../src/integration/processing/delivery-query.validation';
import {
  CLAIM_TENANTS,
  DeliveryRepository,
} from '../../src/integration/processing/delivery.repository';
import {
  DeliveryStatus,
  type ClaimedDelivery,
  type SettleInstruction,
} from '../../src/integration/processing/delivery.types';
import { TenantCursors } from '../../src/integration/processing/tenant-cursors';
import { EventSequencer } from '../../src/integration/processing/event-sequencer.repository';
import { DeliveryMark } from '../../src/integration/processing/delivery-mark';
import { createOrm, type OrmKind } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/** Matches `thing` and every name below it (what a consumer of `thing.**` registers). */
const THING_ALL = '^(?:\\.thing(?:\\.[^.]+)*)$';
const THING_CREATED = '^(?:\\.thing\\.created)$';

interface DeliveryRow {
  event_id: string;
  consumer_name: string;
  position: number;
  status: string;
  attempt_count: number;
  claim_count: number;
  locked_by: string | null;
  last_error: string | null;
  processed: boolean;
  /** available_at - updated_at (both the settle's now()), in ms. */
  delay_ms: number;
  lease_ms: number | null;
}

/** A SqlExecutor on one connection (to hold row locks or a transaction open). */
const on = (client: PoolClient): SqlExecutor => ({
  query: async <T>(text: string, params?: readonly unknown[]) => {
    const r = await client.query(text, params as unknown[]);
    return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
  },
});

describe('per-consumer delivery SQL: sequencer and delivery repository (issue 13)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let adapter: IntegrationDatabaseAdapter;
  const tables = new IntegrationTables();
  const sequencer = new EventSequencer(tables);
  const repo = new DeliveryRepository(tables);
  const clients: PoolClient[] = [];

  /**
   * The adapter with its transactions run inside the one `client` has open (to hold a claim's
   * row locks until the test commits).
   */
  const within = (client: PoolClient): IntegrationDatabaseAdapter => {
    const sql = on(client);
    return {
      ...adapter,
      root: sql,
      transaction: (fn) => fn(client, { ...sql, savepoint: (inner) => inner() }),
    };
  };
  const connect = async (): Promise<PoolClient> => {
    const client = await pool.connect();
    clients.push(client);
    return client;
  };
  const consumer = async (name: string, regex: string, status = 'active'): Promise<void> => {
    await pool.query(
      `insert into integration_consumer (name, patterns, pattern_regex, status) values ($1, $2, $3, $4)`,
      [name, ['thing.**'], regex, status],
    );
  };
  /** Inserts one event (on `client`, or committed at once on the pool); returns its id. */
  const publish = async (
    key: string,
    options: { name?: string; client?: PoolClient; tenant?: string; aggregateId?: string } = {},
  ): Promise<string> => {
    const id = randomUUID();
    await (options.client ?? pool).query(
      `insert into outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload, tenant_id)
       values ($1, $2, 'Thing', $3, $4, $5, $6)`,
      [
        id,
        options.name ?? 'thing.created',
        options.aggregateId ?? key,
        key,
        JSON.stringify({ key }),
        options.tenant ?? null,
      ],
    );
    return id;
  };
  const fanOut = async (): Promise<void> => {
    while ((await sequencer.sequence(adapter, 100)).more);
  };
  const deliveries = async (): Promise<DeliveryRow[]> =>
    (
      await pool.query<DeliveryRow>(
        `select event_id::text, consumer_name, position::int, status, attempt_count, claim_count,
                locked_by, last_error, processed_at is not null as processed,
                round(extract(epoch from available_at - updated_at) * 1000)::float8 as delay_ms,
                round(extract(epoch from locked_until - updated_at) * 1000)::float8 as lease_ms
           from integration_delivery order by position, consumer_name`,
      )
    ).rows;
  const row = async (eventId: string, consumerName = 'a'): Promise<DeliveryRow> => {
    const found = (await deliveries()).find(
      (d) => d.event_id === eventId && d.consumer_name === consumerName,
    );
    if (!found) throw new Error(`no delivery of ${eventId} to ${consumerName}`);
    return found;
  };
  const positionOf = async (eventId: string): Promise<number> => (await row(eventId)).position;
  /** `consumer:eventId` of each delivery (claimed or replayed). */
  const claimed = (list: ReadonlyArray<Pick<ClaimedDelivery, 'consumer' | 'eventId'>>): string[] =>
    list.map((c) => `${c.consumer}:${c.eventId}`);
  const settleOne = (
    c: Pick<ClaimedDelivery, 'eventId' | 'consumer' | 'attempt'>,
    decision: SettleInstruction['decision'],
  ): SettleInstruction => ({
    eventId: c.eventId,
    consumer: c.consumer,
    attempt: c.attempt,
    decision,
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 8 });
    adapter = pgAdapter(pool);
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) {
      await client.query('rollback').catch(() => undefined);
      client.release();
    }
    await pool.query(
      `truncate outbox_event, integration_delivery, integration_consumer;
       update integration_sequencer set horizon = pg_current_snapshot(), window_snapshot = null,
              after_tx = null, after_seq = null, next_position = 1`,
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it.each<[OrmKind]>([['prisma'], ['knex'], ['pg']])(
    'returns the same values through the %s adapter',
    async (kind) => {
      const orm = createOrm(kind, db.url);
      try {
        const sql = orm.adapter.root;
        await consumer('a', THING_ALL);
        await consumer('b', THING_CREATED);
        const e1 = await publish('K', { tenant: 't1' });
        const e2 = await publish('K', { name: 'thing.deleted' });
        expect(await sequencer.pendingCount(sql)).toBe(2);
        // Each run says whether an event it fanned out has a tenant (e1's: t1; e2: none).
        expect(await sequencer.sequence(orm.adapter, 1)).toEqual({
          locked: true,
          events: 1,
          deliveries: 2,
          more: true,
          tenanted: true,
        });
        expect(await sequencer.sequence(orm.adapter, 5)).toEqual({
          locked: true,
          events: 1,
          deliveries: 1,
          more: false,
          tenanted: false,
        });
        const batch = await repo.claim(orm.adapter, 'w1', ['a', 'b', 'a'], 10, 60_000);
        expect(batch.map((c) => [c.consumer, c.eventId, c.position, c.attempt])).toEqual([
          ['a', e1, '1', 1],
          ['b', e1, '1', 1],
          ['a', e2, '2', 1],
        ]);
        expect(batch[0]).toMatchObject({
          orderingKey: 'K',
          leaseExpired: false,
          lastError: null,
          event: {
            id: e1,
            seq: expect.stringMatching(/^\d+$/),
            name: 'thing.created',
            version: 1,
            sourceModule: null,
            aggregateType: 'Thing',
            aggregateId: 'K',
            orderingKey: 'K',
            payload: { key: 'K' },
            headers: {},
            tenantId: 't1',
            correlationId: null,
            causationId: null,
            idempotencyKey: null,
          },
        });
        expect(batch[0]!.event.createdAt).toBeInstanceOf(Date);
        expect(await repo.extendLease(sql, 'w1', batch, 60_000)).toBe(3);
        expect(
          await repo.settle(sql, 'w1', [
            settleOne(batch[0]!, { action: 'dead-letter', error: 'no' }),
            settleOne(batch[1]!, { action: 'retry', delayMs: 10, error: 'later' }),
          ]),
        ).toHaveLength(2);
        const records = await repo.findByEvent(sql, e1);
        expect(records.map((r) => [r.consumer, r.status, r.position, r.attemptCount])).toEqual([
          ['a', DeliveryStatus.DeadLetter, '1', 1],
          ['b', DeliveryStatus.Pending, '1', 1],
        ]);
        expect(records[0]!.updatedAt).toBeInstanceOf(Date);
        expect(records[0]!.lockedUntil).toBeNull();
        expect(await repo.replay(sql, checkReplayFilter({ tenantId: 't1' }))).toEqual([
          { eventId: e1, consumer: 'a' },
        ]);
        expect(await repo.busyCount(sql, ['a'])).toBe(2);
        expect(await repo.releaseAll(sql, 'w1')).toBe(1);
        expect((await repo.stats(sql)).map((st) => [st.consumer, st.pending])).toEqual([
          ['a', 2],
          ['b', 1],
        ]);
      } finally {
        await orm.close();
      }
    },
  );

  describe('sequencer', () => {
    it('gives an event whose transaction commits later a later position, whatever the INSERT order', async () => {
      await consumer('a', THING_ALL);
      const t1 = await connect();
      await t1.query('begin');
      const e1 = await publish('K', { client: t1 });
      const e2 = await publish('K'); // T2: inserted after e1, committed first
      expect(await sequencer.sequence(adapter, 100)).toEqual({
        locked: true,
        events: 1,
        deliveries: 1,
        more: false,
        tenanted: false,
      });
      expect((await deliveries()).map((d) => d.event_id)).toEqual([e2]);
      await t1.query('commit');
      expect(await sequencer.sequence(adapter, 100)).toMatchObject({ events: 1, deliveries: 1 });
      expect(await positionOf(e1)).toBeGreaterThan(await positionOf(e2));
      // seq says the opposite: it is taken at INSERT.
      const { rows } = await pool.query<{ id: string }>(
        'select id::text from outbox_event order by seq',
      );
      expect(rows.map((r) => r.id)).toEqual([e1, e2]);
    });

    it('orders events that became visible in the same run by (transaction id, seq)', async () => {
      await consumer('a', THING_ALL);
      const [t1, t2] = [await connect(), await connect()];
      await t1.query('begin');
      await t2.query('begin');
      const e1 = await publish('K', { client: t1 }); // T1 takes the smaller transaction id
      const e2 = await publish('K', { client: t2 });
      const e3 = await publish('K', { client: t1 }); // inserted after e2
      await t2.query('commit');
      await t1.query('commit');
      await sequencer.sequence(adapter, 100);
      expect((await deliveries()).map((d) => [d.event_id, d.position])).toEqual([
        [e1, 1],
        [e3, 2],
        [e2, 3],
      ]);
    });

    it('a rolled-back transaction leaves no row and blocks nothing; an open one holds nothing back', async () => {
      await consumer('a', THING_ALL);
      const rolledBack = await connect();
      await rolledBack.query('begin');
      await publish('K', { client: rolledBack });
      await rolledBack.query('rollback');
      const open = await connect();
      await open.query('begin');
      const late = await publish('K', { client: open });
      const e2 = await publish('K');
      const e3 = await publish('L');
      expect(await sequencer.pendingCount(adapter.root)).toBe(2);
      expect(await sequencer.sequence(adapter, 100)).toMatchObject({ events: 2, more: false });
      expect((await deliveries()).map((d) => d.event_id)).toEqual([e2, e3]);
      expect(await sequencer.pendingCount(adapter.root)).toBe(0);
      await open.query('commit');
      expect(await sequencer.pendingCount(adapter.root)).toBe(1);
      expect(await sequencer.sequence(adapter, 100)).toMatchObject({ events: 1 });
      expect((await deliveries()).map((d) => [d.event_id, d.position])).toEqual([
        [e2, 1],
        [e3, 2],
        [late, 3],
      ]);
      expect(await sequencer.sequence(adapter, 100)).toMatchObject({ events: 0, more: false });
    });

    it('takes a large backlog in windows: contiguous positions in order, more until done', async () => {
      await consumer('a', THING_ALL);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await publish(`K${i}`));
      expect(await sequencer.sequence(adapter, 2)).toEqual({
        locked: true,
        events: 2,
        deliveries: 2,
        more: true,
        tenanted: false,
      });
      const window = await pool.query<{ open: boolean }>(
        'select window_snapshot is not null as open from integration_sequencer',
      );
      expect(window.rows).toEqual([{ open: true }]);
      // Committed after the window was fixed: it waits for the next window.
      const later = await publish('K9');
      expect(await sequencer.pendingCount(adapter.root)).toBe(4);
      expect(await sequencer.sequence(adapter, 2)).toMatchObject({ events: 2, more: true });
      expect(await sequencer.sequence(adapter, 2)).toMatchObject({ events: 1, more: false });
      expect(await sequencer.sequence(adapter, 2)).toMatchObject({ events: 1, more: false });
      expect(await sequencer.sequence(adapter, 2)).toMatchObject({ events: 0, more: false });
      expect((await deliveries()).map((d) => [d.event_id, d.position])).toEqual(
        [...ids, later].map((id, i) => [id, i + 1]),
      );
      const seqRow = await pool.query(
        `select window_snapshot is null as closed, after_tx is null as no_tx, next_position::int
           from integration_sequencer`,
      );
      expect(seqRow.rows).toEqual([{ closed: true, no_tx: true, next_position: 7 }]);
    });

    it('reads a backlog in index order up to its limit, not the whole backlog, on every run of a window', async () => {
      await consumer('a', THING_ALL);
      // 20,000 committed events in 20 transactions, analyzed: the shape of a flood.
      for (let t = 0; t < 20; t++) {
        await pool.query(
          `insert into outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
           select gen_random_uuid(), 'thing.created', 'Thing', g::text, 'K' || g, '{}'::jsonb
             from generate_series(1, 1000) g`,
        );
      }
      await pool.query('analyze outbox_event, integration_delivery');
      expect(await sequencer.sequence(adapter, 500)).toMatchObject({ events: 500, more: true });
      const sent: Array<{ text: string; params: readonly unknown[] }> = [];
      const explainOnly: SqlExecutor = {
        query: async <T>(text: string, params: readonly unknown[] = []) => {
          sent.push({ text, params });
          return { rows: [] as T[], rowCount: 0 };
        },
      };
      await sequencer.sequence({ ...adapter, root: explainOnly }, 500);
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`explain ${sent[0]!.text}`, [
        ...sent[0]!.params,
      ]);
      const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
      // The outbox read in (tx_id, seq) order under the LIMIT: no bitmap scan of the backlog,
      // no sort of it.
      expect(plan).toMatch(/Index Scan using outbox_event_tx_idx on outbox_event o\b/);
      expect(plan).not.toMatch(/Bitmap Heap Scan on outbox_event|Sort Key: o\.tx_id/);
    });

    it('never blocks on another sequencer: locked:false while one runs, and concurrent runs never duplicate', async () => {
      await consumer('a', THING_ALL);
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push(await publish(`K${i % 7}`));
      const holder = await connect();
      await holder.query('begin');
      // Another run in progress holds the sequencer's row.
      const held = await holder.query<{ id: number }>(
        'select id from integration_sequencer where id = 1 for update',
      );
      expect(held.rows).toEqual([{ id: 1 }]);
      expect(await sequencer.sequence(adapter, 10)).toEqual({
        locked: false,
        events: 0,
        deliveries: 0,
        more: false,
        tenanted: false,
      });
      await holder.query('commit');

      const results = await Promise.all(
        Array.from({ length: 6 }, () => sequencer.sequence(adapter, 4)),
      );
      for (;;) {
        const r = await sequencer.sequence(adapter, 4);
        results.push(r);
        if (r.locked && !r.more) break;
      }
      const events = results.reduce((n, r) => n + r.events, 0);
      expect(events).toBe(30);
      const rows = await deliveries();
      expect(rows.map((d) => d.position)).toEqual(ids.map((_, i) => i + 1));
      expect(rows.map((d) => d.event_id)).toEqual(ids);
    });

    it('fans out only to active consumers whose pattern matches', async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_CREATED);
      await consumer('retired', THING_ALL, 'retired');
      await consumer('other', '^(?:\\.other(?:\\.[^.]+)*)$');
      const created = await publish('K');
      const deleted = await publish('K', { name: 'thing.deleted' });
      const unrelated = await publish('K', { name: 'things.created' });
      expect(await sequencer.sequence(adapter, 100)).toMatchObject({ events: 3, deliveries: 3 });
      expect((await deliveries()).map((d) => [d.event_id, d.consumer_name, d.position])).toEqual([
        [created, 'a', 1],
        [created, 'b', 1],
        [deleted, 'a', 2],
      ]);
      // The unmatched event still took its place in commit order.
      expect(unrelated).toBeDefined();
      expect(await sequencer.pendingCount(adapter.root)).toBe(0);
    });
  });

  describe('tenant lane (issue 16)', () => {
    /** `count` events of `tenant`, each committed on its own, keys `<tenant><i>`. */
    const backlog = async (tenant: string, count: number): Promise<string[]> => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push(await publish(`${tenant}${i}`, { tenant }));
      return ids;
    };
    /**
     * Runs the sequencer until a run takes nothing: the open window, then what came after.
     * Returns the events the runs reported.
     */
    const fanOutAll = async (): Promise<number> => {
      let events = 0;
      for (;;) {
        const run = await sequencer.sequence(adapter, 100);
        events += run.events;
        if (!run.more && run.events === 0) return events;
      }
    };
    /** The consumer-a position of each event, in the order given (undefined: no delivery yet). */
    const positions = async (ids: readonly string[]): Promise<Array<number | undefined>> => {
      const rows = await deliveries();
      return ids.map(
        (id) => rows.find((d) => d.event_id === id && d.consumer_name === 'a')?.position,
      );
    };

    it('fans out every waiting event of a light tenant ahead of a backlog, in order, and only once', async () => {
      await consumer('a', THING_ALL);
      const noisy = await backlog('N', 30);
      // A window opens: the sequencer is behind.
      expect(await sequencer.sequence(adapter, 2, 40)).toMatchObject({ events: 2, more: true });
      const q1 = await publish('K', { tenant: 'Q' });
      const q2 = await publish('K', { tenant: 'Q' });
      const q3 = await publish('L', { tenant: 'Q' });
      const unmatched = await publish('M', { tenant: 'Q', name: 'other.created' });
      // Two events in order, then the lane: of the 40 newest events N has 30 (more than a
      // tenth: the flood), Q 4, all of them waiting. No consumer matches the fourth.
      expect(await sequencer.sequence(adapter, 2, 40)).toMatchObject({
        events: 5,
        deliveries: 5,
        more: true,
      });
      expect(await positions([...noisy.slice(0, 4), q1, q2, q3])).toEqual([1, 2, 3, 4, 5, 6, 7]);
      expect(await positions(noisy.slice(4))).toEqual(Array(26).fill(undefined));
      // The runs in order report the rest once: N's 26 and Q's unmatched event, not Q's three
      // the lane took.
      expect(await fanOutAll()).toBe(27);
      // The runs that reached Q's events in order added nothing: one delivery each, kept.
      const rows = await deliveries();
      expect(rows.filter((d) => [q1, q2, q3].includes(d.event_id))).toHaveLength(3);
      expect(await positions([q1, q2, q3])).toEqual([5, 6, 7]);
      expect((await positions(noisy.slice(4))).every((p) => p! > 7)).toBe(true);
      expect(rows.filter((d) => d.event_id === unmatched)).toEqual([]);
      expect(await sequencer.pendingCount(adapter.root)).toBe(0);
    });

    /**
     * Q0 in a window of 31 events (5 of N's before it, 25 of M's after), opened by a run with a
     * lane of `scan`; then Q1 (Q0's key) and Q2 committed after the window. Returns their ids.
     */
    const quietInAndAfterWindow = async (scan: number): Promise<string[]> => {
      await consumer('a', THING_ALL);
      await backlog('N', 5);
      const q0 = await publish('K', { tenant: 'Q' });
      await backlog('M', 25);
      await sequencer.sequence(adapter, 2, scan);
      return [q0, await publish('K', { tenant: 'Q' }), await publish('L', { tenant: 'Q' })];
    };

    it("takes a light tenant's earlier events waiting in the window along, first", async () => {
      const [q0, q1, q2] = await quietInAndAfterWindow(40);
      // Q0, deep in the window behind 25 of M's, comes with Q1 and Q2, before them.
      expect(await sequencer.sequence(adapter, 2, 40)).toMatchObject({ events: 5 });
      expect(await positions([q0, q1, q2])).toEqual([5, 6, 7]);
    });

    it('leaves a tenant with more waiting than a tenth of the scan to the runs in order', async () => {
      const [q0, q1, q2] = await quietInAndAfterWindow(20);
      // Q has 2 of the 20 newest events but 3 waiting: more than 20 / 10.
      expect(await sequencer.sequence(adapter, 2, 20)).toMatchObject({ events: 2 });
      expect(await positions([q0, q1, q2])).toEqual([undefined, undefined, undefined]);
      await fanOutAll();
      const [p0, p1, p2] = await positions([q0, q1, q2]);
      expect(p0).toBeLessThan(p1!);
      expect(p1).toBeLessThan(p2!);
    });

    it("keeps the window's order: an event the window did not see comes after the window's", async () => {
      await consumer('a', THING_ALL);
      const open = await connect();
      await open.query('begin');
      // The smallest transaction id of the test, committed only after the window is fixed.
      const late = await publish('K', { tenant: 'Q', client: open });
      await backlog('N', 6);
      const inWindow = await publish('K', { tenant: 'Q' });
      await sequencer.sequence(adapter, 2, 20);
      await open.query('commit');
      // Two in order, then Q's two: the window's event first, though its transaction id is
      // larger; that is where the runs in order would have put them.
      expect(await sequencer.sequence(adapter, 2, 20)).toMatchObject({ events: 4 });
      expect(await positions([inWindow, late])).toEqual([5, 6]);
    });

    it("claims the lane's deliveries a claim could take, for hosted consumers, a batch at most; the rest pending", async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      const l0 = await publish('L', { tenant: 'Q' });
      await backlog('N', 30);
      // A window opens with L0 and N's first: L0's deliveries wait, unfinished.
      expect(await sequencer.sequence(adapter, 2, 60)).toMatchObject({ events: 2, more: true });
      const [q1, q2] = [await publish('K', { tenant: 'Q' }), await publish('K', { tenant: 'Q' })];
      const behindL0 = await publish('L', { tenant: 'Q' });
      // Shares its key with N1, which the run takes in commit order (not the lane's).
      const behindN1 = await publish('N1', { tenant: 'Q' });
      const pastTheBatch = await publish('P', { tenant: 'Q' });
      const run = await sequencer.sequenceAndClaimLane(adapter, 2, 60, {
        workerId: 'w1',
        consumers: ['a'],
        leaseMs: 60_000,
        runLimits: {},
        batchSize: 2,
      });
      // N1 and N2 in order, then Q's five in the lane (6 of the 36 newest: a tenth of 60).
      expect(run).toMatchObject({ locked: true, events: 7, deliveries: 14, more: true });
      expect(claimed(run.claimed)).toEqual([`a:${q1}`, `a:${q2}`]);
      expect(run.claimed[0]).toMatchObject({ attempt: 1, orderingKey: 'K', event: { id: q1 } });
      expect(await row(q1)).toMatchObject({
        status: 'processing',
        locked_by: 'w1',
        lease_ms: 60_000,
      });
      for (const id of [behindL0, behindN1, pastTheBatch])
        expect(await row(id)).toMatchObject({ status: 'pending', claim_count: 0 });
      expect(await row(q1, 'b')).toMatchObject({ status: 'pending' });
      expect(await row(l0)).toMatchObject({ status: 'pending' });
      const inOrder = (await deliveries()).filter(
        (d) => d.consumer_name === 'a' && d.status === 'pending' && d.position <= 4,
      );
      expect(inOrder).toHaveLength(4); // L0, N0, N1, N2: the run's own are never the lane's
      // With the lane off it claims nothing, like a plain run.
      await publish('R', { tenant: 'R' });
      expect(
        await sequencer.sequenceAndClaimLane(adapter, 100, 0, {
          workerId: 'w1',
          consumers: ['a'],
          leaseMs: 60_000,
          runLimits: {},
          batchSize: 2,
        }),
      ).toMatchObject({ claimed: [] });
    });

    it('takes nothing while no window is open, nothing without a tenant, nothing when off', async () => {
      await consumer('a', THING_ALL);
      await backlog('N', 6);
      // No window before this run: it takes two events in order, no lane.
      expect(await sequencer.sequence(adapter, 2, 10)).toMatchObject({ events: 2, more: true });
      const untenanted = await publish('U');
      expect(await sequencer.sequence(adapter, 2, 0)).toMatchObject({ events: 2, more: true });
      const q = await publish('Q', { tenant: 'Q' });
      // Lane off: only the two in order.
      expect(await sequencer.sequence(adapter, 2, 0)).toMatchObject({ events: 2 });
      expect(await positions([untenanted, q])).toEqual([undefined, undefined]);
      // Lane on: Q only (U has no tenant).
      expect(await sequencer.sequence(adapter, 2, 10)).toMatchObject({ events: 1 });
      expect(await positions([untenanted, q])).toEqual([undefined, 7]);
    });
  });

  describe('claim', () => {
    it('claims per (consumer, key) in order, one worker per key, and only hosted consumers', async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      const [e1, e2, e3] = [await publish('K'), await publish('K'), await publish('K')];
      const e4 = await publish('L');
      await fanOut();
      const first = await repo.claim(adapter, 'w1', ['a'], 2, 60_000);
      expect(claimed(first)).toEqual([`a:${e1}`, `a:${e2}`]);
      expect(first[0]).toMatchObject({
        position: '1',
        orderingKey: 'K',
        attempt: 1,
        leaseExpired: false,
        lastError: null,
        event: { id: e1, name: 'thing.created', aggregateId: 'K', payload: { key: 'K' } },
      });
      expect(first[0]!.event.createdAt).toBeInstanceOf(Date);
      // e3 waits behind e1 and e2 (leased to w1); the other key goes to w2.
      expect(claimed(await repo.claim(adapter, 'w2', ['a'], 10, 60_000))).toEqual([`a:${e4}`]);
      expect(claimed(await repo.claim(adapter, 'w3', ['a'], 10, 60_000))).toEqual([]);
      // b's deliveries of the same keys are its own.
      expect(claimed(await repo.claim(adapter, 'w3', ['b'], 10, 60_000))).toEqual([
        `b:${e1}`,
        `b:${e2}`,
        `b:${e3}`,
        `b:${e4}`,
      ]);
      expect(await repo.claim(adapter, 'w3', [], 10, 60_000)).toEqual([]);
      expect(await row(e3)).toMatchObject({ status: 'pending', claim_count: 0 });
      expect(await row(e1)).toMatchObject({
        status: 'processing',
        locked_by: 'w1',
        lease_ms: 60_000,
      });
    });

    it('gap rule: a key whose earlier delivery it could not lock is not claimed past it', async () => {
      await consumer('a', THING_ALL);
      const [e1, e2, e3] = [await publish('K'), await publish('K'), await publish('K')];
      const e4 = await publish('L');
      await fanOut();
      const holder = await connect();
      await holder.query('begin');
      await holder.query(
        `select 1 from integration_delivery where event_id = $1 and consumer_name = 'a' for update`,
        [e1],
      );
      expect(claimed(await repo.claim(adapter, 'w1', ['a'], 10, 60_000))).toEqual([`a:${e4}`]);
      expect((await row(e2)).status).toBe('pending');
      expect((await row(e3)).claim_count).toBe(0);
      await holder.query('commit');
      expect(claimed(await repo.claim(adapter, 'w1', ['a'], 10, 60_000))).toEqual([
        `a:${e1}`,
        `a:${e2}`,
        `a:${e3}`,
      ]);
    });

    it("a consumer's run limit caps how many deliveries of one key it claims at once, its own only", async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      const [k1, k2, k3] = [await publish('K'), await publish('K'), await publish('K')];
      const [l1, l2] = [await publish('L'), await publish('L')];
      await fanOut();
      const limited = await repo.claim(adapter, 'w1', ['a', 'b'], 10, 60_000, { a: 2 });
      expect(claimed(limited)).toEqual([
        `a:${k1}`,
        `b:${k1}`,
        `a:${k2}`,
        `b:${k2}`,
        `b:${k3}`,
        `a:${l1}`,
        `b:${l1}`,
        `a:${l2}`,
        `b:${l2}`,
      ]);
      // The rest of the key waits behind the run, for every worker, and is untouched.
      expect(claimed(await repo.claim(adapter, 'w2', ['a'], 10, 60_000))).toEqual([]);
      expect(await row(k3)).toMatchObject({ status: 'pending', claim_count: 0 });
    });

    it("a consumer's failing key does not block another consumer's deliveries of that key", async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      const [e1, e2] = [await publish('K'), await publish('K')];
      await fanOut();
      const [c1] = await repo.claim(adapter, 'w1', ['a'], 1, 60_000);
      expect(
        await repo.settle(adapter.root, 'w1', [
          settleOne(c1!, { action: 'retry', delayMs: 60_000, error: 'boom' }),
        ]),
      ).toEqual([{ eventId: e1, consumer: 'a' }]);
      expect(claimed(await repo.claim(adapter, 'w2', ['a', 'b'], 10, 60_000))).toEqual([
        `b:${e1}`,
        `b:${e2}`,
      ]);
    });

    it('no churn: a retried head is claimed alone, its followers after it succeeded', async () => {
      await consumer('a', THING_ALL);
      const [e1, e2, e3] = [await publish('K'), await publish('K'), await publish('K')];
      const other = await publish('L');
      await fanOut();
      const batch = await repo.claim(adapter, 'w1', ['a'], 10, 60_000);
      expect(batch).toHaveLength(4);
      const byId = new Map(batch.map((c) => [c.eventId, c]));
      await repo.settle(adapter.root, 'w1', [
        settleOne(byId.get(e1)!, { action: 'retry', delayMs: 0, error: 'boom' }),
        settleOne(byId.get(e2)!, { action: 'release' }),
        settleOne(byId.get(e3)!, { action: 'release' }),
        settleOne(byId.get(other)!, { action: 'processed' }),
      ]);
      const retried = await repo.claim(adapter, 'w1', ['a'], 10, 60_000);
      expect(claimed(retried)).toEqual([`a:${e1}`]);
      expect(retried[0]).toMatchObject({ attempt: 2, leaseExpired: false, lastError: 'boom' });
      expect(await row(e2)).toMatchObject({ status: 'pending', claim_count: 1, attempt_count: 0 });
      // Still failing: released again and again, the followers are never claimed meanwhile.
      await repo.settle(adapter.root, 'w1', [
        settleOne(retried[0]!, { action: 'retry', delayMs: 0, error: 'boom again' }),
      ]);
      expect(claimed(await repo.claim(adapter, 'w1', ['a'], 10, 60_000))).toEqual([`a:${e1}`]);
      expect((await row(e3)).claim_count).toBe(1);
      const [head] = await repo.claim(adapter, 'w9', ['a'], 10, 60_000);
      expect(head).toBeUndefined(); // e1 is leased: nothing else of K may go
      await repo.settle(adapter.root, 'w1', [
        settleOne({ eventId: e1, consumer: 'a', attempt: 3 }, { action: 'processed' }),
      ]);
      expect(claimed(await repo.claim(adapter, 'w1', ['a'], 10, 60_000))).toEqual([
        `a:${e2}`,
        `a:${e3}`,
      ]);
    });

    it('re-claims a delivery whose lease expired, marked leaseExpired, alone at the head of its key', async () => {
      await consumer('a', THING_ALL);
      const [e1, e2] = [await publish('K'), await publish('K')];
      await fanOut();
      expect(await repo.claim(adapter, 'w1', ['a'], 10, 50)).toHaveLength(2);
      await waitFor(
        async () =>
          (await pool.query('select 1 from integration_delivery where locked_until >= now()'))
            .rowCount === 0,
        10_000,
        'the leases to expire',
      );
      const again = await repo.claim(adapter, 'w2', ['a'], 10, 60_000);
      expect(claimed(again)).toEqual([`a:${e1}`]);
      expect(again[0]).toMatchObject({ attempt: 2, leaseExpired: true });
      expect(await row(e1)).toMatchObject({ locked_by: 'w2', claim_count: 2 });
      // w1's late settle is fenced out.
      expect(
        await repo.settle(adapter.root, 'w1', [
          settleOne({ eventId: e1, consumer: 'a', attempt: 1 }, { action: 'processed' }),
        ]),
      ).toEqual([]);
      await repo.settle(adapter.root, 'w2', [settleOne(again[0]!, { action: 'processed' })]);
      const rest = await repo.claim(adapter, 'w2', ['a'], 10, 60_000);
      expect(claimed(rest)).toEqual([`a:${e2}`]);
      expect(rest[0]).toMatchObject({ attempt: 2, leaseExpired: true });
    });

    it('takes nothing of a key another worker validly leases, not even an earlier delivery', async () => {
      // A dead letter replayed while a later delivery of its key is in flight waits for it:
      // one worker per key at a time. (The claim finds the leased keys once and skips all
      // their deliveries by a hash lookup, instead of probing the key index per delivery.)
      await consumer('a', THING_ALL);
      const [e1, e2, e3] = [await publish('K'), await publish('K'), await publish('L')];
      await fanOut();
      const held = await repo.claim(adapter, 'w1', ['a'], 2, 60_000);
      expect(claimed(held)).toEqual([`a:${e1}`, `a:${e2}`]);
      await repo.settle(adapter.root, 'w1', [
        settleOne(held[0]!, { action: 'dead-letter', error: 'no' }),
      ]);
      expect(claimed(await repo.replay(adapter.root, checkReplayFilter({ eventId: e1 })))).toEqual([
        `a:${e1}`,
      ]);
      expect(await row(e1)).toMatchObject({ status: 'pending' });
      // e2 (key K) is still leased by w1: e1 waits; key L goes on.
      expect(claimed(await repo.claim(adapter, 'w2', ['a'], 10, 60_000))).toEqual([`a:${e3}`]);
      await repo.settle(adapter.root, 'w1', [settleOne(held[1]!, { action: 'processed' })]);
      expect(claimed(await repo.claim(adapter, 'w2', ['a'], 10, 60_000))).toEqual([`a:${e1}`]);
    });

    it('two concurrent claims never take the same delivery (SKIP LOCKED, no waiting)', async () => {
      await consumer('a', THING_ALL);
      for (let i = 0; i < 12; i++) await publish(`K${i}`);
      await fanOut();
      const t1 = await connect();
      await t1.query('begin');
      const inTx = await repo.claim(within(t1), 'w1', ['a'], 5, 60_000);
      expect(inTx).toHaveLength(5);
      // t1's claim is not committed: its rows are locked, and the second claim skips them.
      const outside = await repo.claim(adapter, 'w2', ['a'], 12, 60_000);
      expect(outside).toHaveLength(7);
      await t1.query('commit');
      const ids = [...inTx, ...outside].map((c) => c.eventId);
      expect(new Set(ids).size).toBe(12);
      const both = await Promise.all([
        repo.claim(adapter, 'w3', ['a'], 12, 60_000),
        repo.claim(adapter, 'w4', ['a'], 12, 60_000),
      ]);
      expect(both.flat()).toEqual([]);
      expect((await deliveries()).every((d) => d.claim_count === 1)).toBe(true);
    });

    it('runs in a transaction of its own with JIT compilation off, leaving the setting as it was', async () => {
      // The planner's estimate of a claim grows with the backlog; past jit_above_cost a server
      // built with LLVM compiled every claim (150-200 ms each on PostgreSQL 15).
      await consumer('a', THING_ALL);
      await publish('K');
      await fanOut();
      const jitOn = new Pool({ connectionString: db.url, max: 1, options: '-c jit=on' });
      try {
        const real = pgAdapter(jitOn);
        const inside: unknown[] = [];
        const watched: IntegrationDatabaseAdapter = {
          ...real,
          transaction: (fn) =>
            real.transaction(async (tx, sql) => {
              const result = await fn(tx, sql);
              // After the claim, in its transaction: the claim's UPDATE gave it a transaction id.
              const { rows } = await sql.query(
                `select current_setting('jit') as jit, txid_current_if_assigned() is not null as claimed`,
              );
              inside.push(rows[0]);
              return result;
            }),
        };
        expect(await repo.claim(watched, 'w1', ['a'], 10, 60_000)).toHaveLength(1);
        expect(inside).toEqual([{ jit: 'off', claimed: true }]);
        // SET LOCAL: the connection's own setting is back after the claim's transaction.
        const { rows } = await jitOn.query(`select current_setting('jit') as jit`);
        expect(rows).toEqual([{ jit: 'on' }]);
      } finally {
        await jitOn.end();
      }
    });
  });

  describe('fair claiming across tenants (issue 16)', () => {
    /** `count` events of `tenant` in one transaction, keys `${prefix}0`… (or all `key`). */
    const bulk = async (
      tenant: string | null,
      count: number,
      options: { prefix?: string; key?: string } = {},
    ): Promise<void> => {
      await pool.query(
        `insert into outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload, tenant_id)
         select gen_random_uuid(), 'thing.created', 'Thing', $2 || g, coalesce($3, $2 || g), '{}', $1
           from generate_series(1, $4::int) g`,
        [tenant, options.prefix ?? `${tenant ?? 'none'}-`, options.key ?? null, count],
      );
    };
    const tenantOf = (c: ClaimedDelivery): string | null => c.event.tenantId;

    it("a tenant's backlog delays another tenant's delivery by one batch at most", async () => {
      await consumer('a', THING_ALL);
      await bulk('noisy', 2_000);
      const quiet = await publish('Q', { tenant: 'quiet' });
      while ((await sequencer.sequence(adapter, 5_000)).more);
      const batch = await repo.claim(adapter, 'w1', ['a'], 10, 60_000);
      expect(batch).toHaveLength(10);
      expect(batch.map((c) => c.eventId)).toContain(quiet);
      // The noisy tenant's share is its oldest deliveries, in position order.
      const noisy = batch.filter((c) => c.eventId !== quiet).map((c) => Number(c.position));
      expect(noisy).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await row(quiet)).toMatchObject({ status: 'processing', locked_by: 'w1' });
      // Rows locked for the noisy tenant's share but not taken are left untouched.
      expect((await deliveries()).filter((d) => d.status === 'processing')).toHaveLength(10);
      expect((await deliveries()).filter((d) => d.claim_count > 0)).toHaveLength(10);
    });

    it('takes every tenant in turns, "no tenant" being one, each in position order', async () => {
      await consumer('a', THING_ALL);
      await bulk('t1', 6);
      await bulk('t2', 6);
      await bulk(null, 6);
      await fanOut();
      const batch = await repo.claim(adapter, 'w1', ['a'], 6, 60_000);
      const perTenant = new Map<string | null, number[]>();
      for (const c of batch) {
        const tenant = tenantOf(c);
        perTenant.set(tenant, [...(perTenant.get(tenant) ?? []), Number(c.position)]);
      }
      // Positions: t1 1-6, t2 7-12, no tenant 13-18; two turns of three tenants.
      expect(Object.fromEntries(perTenant)).toEqual({ t1: [1, 2], t2: [7, 8], null: [13, 14] });
      // The next claims go on in turns until every tenant is drained; a batch runs in turns too.
      const next = await repo.claim(adapter, 'w2', ['a'], 9, 60_000);
      expect(next.map((c) => Number(c.position))).toEqual([3, 9, 15, 4, 10, 16, 5, 11, 17]);
    });

    it("keeps a key's order when tenants share it: nothing is claimed past an unclaimed earlier delivery", async () => {
      await consumer('a', THING_ALL);
      await bulk('noisy', 5, { key: 'K' });
      const quiet = await publish('K', { tenant: 'quiet' });
      const other = await publish('Q', { tenant: 'quiet' });
      await fanOut();
      // In turns: noisy 1, quiet 6, noisy 2, quiet 7; but 6 is behind 3-5 of key K: not claimed.
      const batch = await repo.claim(adapter, 'w1', ['a'], 4, 60_000);
      expect(batch.map((c) => Number(c.position))).toEqual([1, 7, 2]);
      expect(batch[1]!.eventId).toBe(other);
      expect(await row(quiet)).toMatchObject({ status: 'pending', claim_count: 0 });
    });

    it('two concurrent claims across tenants never take the same delivery', async () => {
      await consumer('a', THING_ALL);
      await bulk('t1', 20);
      await bulk('t2', 3);
      await bulk(null, 3);
      await fanOut();
      const t1 = await connect();
      await t1.query('begin');
      const inTx = await repo.claim(within(t1), 'w1', ['a'], 6, 60_000);
      expect(inTx).toHaveLength(6);
      // Each tenant's share was 4: the rows t1 locked and did not take (3, 4, 23, 26) stay
      // locked until its transaction ends, and the second claim skips them too.
      const outside = await repo.claim(adapter, 'w2', ['a'], 30, 60_000);
      expect(
        outside.map((c) => Number(c.position)).filter((p) => [3, 4, 23, 26].includes(p)),
      ).toEqual([]);
      expect(outside).toHaveLength(16);
      await t1.query('commit');
      const last = await repo.claim(adapter, 'w2', ['a'], 30, 60_000);
      expect(last.map((c) => Number(c.position)).sort((a, b) => a - b)).toEqual([3, 4, 23, 26]);
      const ids = [...inTx, ...outside, ...last].map((c) => c.eventId);
      expect(new Set(ids).size).toBe(26);
      const both = await Promise.all([
        repo.claim(adapter, 'w3', ['a'], 30, 60_000),
        repo.claim(adapter, 'w4', ['a'], 30, 60_000),
      ]);
      expect(both.flat()).toEqual([]);
      expect((await deliveries()).every((d) => d.claim_count === 1)).toBe(true);
    });

    /** CLAIM_TENANTS + 5 tenants, each with one event per key suffix (fanned out). */
    const manyTenants = async (keys: readonly string[]): Promise<string[]> => {
      await consumer('a', THING_ALL);
      const tenants = Array.from(
        { length: CLAIM_TENANTS + 5 },
        (_, i) => `t${String(i).padStart(4, '0')}`,
      );
      await pool.query(
        `insert into outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload, tenant_id)
         select gen_random_uuid(), 'thing.created', 'Thing', t, t || k, '{}', t
           from unnest($1::text[]) t, unnest($2::text[]) k`,
        [tenants, keys],
      );
      await fanOut();
      return tenants;
    };

    it(`looks at ${CLAIM_TENANTS} tenants at most per consumer and claim`, async () => {
      const tenants = await manyTenants(['']);
      const batch = await repo.claim(adapter, 'w1', ['a'], 500, 60_000);
      const seen = batch.map(tenantOf);
      expect(seen.sort()).toEqual(tenants.slice(0, CLAIM_TENANTS));
      const rest = await repo.claim(adapter, 'w1', ['a'], 500, 60_000);
      expect(rest.map(tenantOf).sort()).toEqual(tenants.slice(CLAIM_TENANTS));
    });

    it('goes on after the last tenant of a scan that stopped at its bound, wrapping around', async () => {
      // Two deliveries per tenant on two keys: a batch of CLAIM_TENANTS takes one of each.
      const tenants = await manyTenants(['-1', '-2']);
      const claimTenants = async (cursors?: TenantCursors): Promise<string[]> =>
        (await repo.claim(adapter, 'w1', ['a'], CLAIM_TENANTS, 60_000, {}, cursors))
          .map((c) => tenantOf(c)!)
          .sort();
      const cursors = new TenantCursors();
      expect(await claimTenants(cursors)).toEqual(tenants.slice(0, CLAIM_TENANTS));
      expect(cursors.starts(['a'])).toEqual({ a: tenants[CLAIM_TENANTS - 1] });
      // The next scan starts past the last tenant looked at, then wraps to the first ones.
      expect(await claimTenants(cursors)).toEqual(
        [...tenants.slice(0, CLAIM_TENANTS - 5), ...tenants.slice(CLAIM_TENANTS)].sort(),
      );
      expect(cursors.starts(['a'])).toEqual({ a: tenants[CLAIM_TENANTS - 6] });
      // Ten tenants left, one delivery each: the scan fits, and the next one starts at the first.
      expect(await claimTenants(cursors)).toEqual(tenants.slice(CLAIM_TENANTS - 5));
      expect(cursors.starts(['a'])).toEqual({});
    });
  });

  describe('sequence and claim in one statement', () => {
    const fresh = (
      consumers: string[],
      options: { limit?: number; runLimits?: Record<string, number>; worker?: string } = {},
    ) =>
      sequencer.sequenceAndClaim(adapter, options.limit ?? 10, {
        workerId: options.worker ?? 'w1',
        consumers,
        leaseMs: 60_000,
        runLimits: options.runLimits ?? {},
      });

    it('creates the deliveries of hosted consumers already claimed, the others pending', async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      const [k1, k2] = [await publish('K'), await publish('K')];
      const run = await fresh(['a']);
      expect(run).toMatchObject({ locked: true, events: 2, deliveries: 4, more: false });
      expect(claimed(run.claimed)).toEqual([`a:${k1}`, `a:${k2}`]);
      expect(run.claimed[0]).toMatchObject({
        position: '1',
        orderingKey: 'K',
        attempt: 1,
        leaseExpired: false,
        lastError: null,
        event: { id: k1, name: 'thing.created', payload: { key: 'K' } },
      });
      expect(await row(k1)).toMatchObject({
        status: 'processing',
        locked_by: 'w1',
        attempt_count: 1,
        claim_count: 1,
        lease_ms: 60_000,
      });
      expect(await row(k1, 'b')).toMatchObject({ status: 'pending', claim_count: 0 });
      // What it claimed settles like any claim; what it left, the claim takes.
      expect(
        await repo.settle(adapter.root, 'w1', [
          settleOne(run.claimed[0]!, { action: 'processed' }),
        ]),
      ).toHaveLength(1);
      expect(claimed(await repo.claim(adapter, 'w2', ['b'], 10, 60_000))).toEqual([
        `b:${k1}`,
        `b:${k2}`,
      ]);
    });

    it('keeps the claim rules: an unfinished earlier delivery of the key, a delivery not due, the run limit; a batch at most', async () => {
      await consumer('a', THING_ALL);
      const waiting = await publish('K');
      await fanOut();
      const behindWaiting = await publish('K');
      const [l1, l2, l3] = [await publish('L'), await publish('L'), await publish('L')];
      const [m1, m2] = [await publish('M'), await publish('M')];
      const notDue = await publish('N');
      await pool.query(
        `update outbox_event set available_at = now() + interval '1 hour' where id = $1`,
        [notDue],
      );
      const behindNotDue = await publish('N');
      // A run takes a batch (5 events here): K behind a pending delivery, L at most 2 of a key.
      const run = await fresh(['a'], { limit: 5, runLimits: { a: 2 } });
      expect(run).toMatchObject({ events: 5, deliveries: 5, more: true });
      expect(claimed(run.claimed)).toEqual([`a:${l1}`, `a:${l2}`, `a:${m1}`]);
      // The next run: M's second behind its first (claimed), N's behind one not due.
      const next = await fresh(['a'], { runLimits: { a: 2 } });
      expect(next).toMatchObject({ events: 3, deliveries: 3, more: false, claimed: [] });
      for (const id of [behindWaiting, l3, m2, notDue, behindNotDue])
        expect(await row(id)).toMatchObject({ status: 'pending', claim_count: 0, locked_by: null });
      expect(await row(waiting)).toMatchObject({ status: 'pending' });
    });

    it('claims nothing while another run holds the sequencer, and nothing without hosted consumers', async () => {
      await consumer('a', THING_ALL);
      await publish('K');
      const holder = await connect();
      await holder.query('begin');
      await holder.query('select 1 from integration_sequencer where id = 1 for update');
      expect(await fresh(['a'])).toEqual({
        locked: false,
        events: 0,
        deliveries: 0,
        more: false,
        tenanted: false,
        claimed: [],
      });
      await holder.query('rollback');
      expect(await fresh([])).toMatchObject({
        locked: true,
        events: 1,
        deliveries: 1,
        claimed: [],
      });
      expect((await deliveries())[0]).toMatchObject({ status: 'pending', claim_count: 0 });
    });

    it('returns the same values through the knex and prisma adapters', async () => {
      await consumer('a', THING_ALL);
      const viaPg = await publish('K');
      const pgRun = await fresh(['a']);
      for (const kind of ['knex', 'prisma'] as OrmKind[]) {
        const orm = createOrm(kind, db.url);
        try {
          const id = await publish(`K-${kind}`);
          const run = await sequencer.sequenceAndClaim(orm.adapter, 100, {
            workerId: kind,
            consumers: ['a'],
            leaseMs: 60_000,
            runLimits: { a: 5 },
          });
          expect(claimed(run.claimed)).toEqual([`a:${id}`]);
          const { event: ours, ...rest } = run.claimed[0]!;
          const { event: theirs, ...pgRest } = pgRun.claimed[0]!;
          expect(Object.keys(rest).sort()).toEqual(Object.keys(pgRest).sort());
          expect(typeof rest.position).toBe('string');
          expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
          expect(ours.createdAt).toBeInstanceOf(Date);
        } finally {
          await orm.close();
        }
      }
      expect(claimed(pgRun.claimed)).toEqual([`a:${viaPg}`]);
    });
  });

  describe('settle, lease, release', () => {
    it('is fenced by worker and attempt, and writes each decision', async () => {
      await consumer('a', THING_ALL);
      const ids = [await publish('A'), await publish('B'), await publish('C'), await publish('D')];
      await fanOut();
      const batch = await repo.claim(adapter, 'w1', ['a'], 10, 60_000);
      const [p, r, d, rel] = batch;
      const before = await deliveries();
      expect(
        await repo.settle(adapter.root, 'intruder', [settleOne(p!, { action: 'processed' })]),
      ).toEqual([]);
      expect(
        await repo.settle(adapter.root, 'w1', [
          settleOne({ ...p!, attempt: 2 }, { action: 'processed' }),
        ]),
      ).toEqual([]);
      expect(await deliveries()).toEqual(before);
      await pool.query(
        `update integration_delivery set last_error = 'earlier' where event_id = $1`,
        [rel!.eventId],
      );
      const changed = await repo.settle(adapter.root, 'w1', [
        settleOne(p!, { action: 'processed' }),
        settleOne(r!, {
          action: 'retry',
          delayMs: 1_500.4,
          error: 'x'.repeat(MAX_ERROR_LENGTH + 10),
        }),
        settleOne(d!, { action: 'dead-letter', error: 'fatal\u0000' }),
        settleOne(rel!, { action: 'release' }),
      ]);
      expect(changed.map((k) => k.eventId).sort()).toEqual([...ids].sort());
      const rows = await deliveries();
      expect(rows.map((x) => x.locked_by)).toEqual([null, null, null, null]);
      expect(rows.map((x) => x.lease_ms)).toEqual([null, null, null, null]);
      expect(rows[0]).toMatchObject({
        status: 'processed',
        processed: true,
        last_error: null,
        attempt_count: 1,
      });
      expect(rows[1]).toMatchObject({
        status: 'pending',
        processed: false,
        delay_ms: 1_500,
        attempt_count: 1,
      });
      expect(rows[1]!.last_error).toHaveLength(MAX_ERROR_LENGTH);
      expect(rows[2]).toMatchObject({
        status: 'dead_letter',
        last_error: 'fatal\\0',
        attempt_count: 1,
      });
      expect(rows[3]).toMatchObject({
        status: 'pending',
        attempt_count: 0,
        last_error: 'earlier',
        delay_ms: 0,
      });
      // Settled once: a second settle of the same claims changes nothing.
      expect(
        await repo.settle(adapter.root, 'w1', [settleOne(p!, { action: 'processed' })]),
      ).toEqual([]);
      expect(await repo.settle(adapter.root, 'w1', [])).toEqual([]);
    });

    it("extendLease extends only the worker's own leases and skips rows held by an open transaction", async () => {
      await consumer('a', THING_ALL);
      const [e1, e2] = [await publish('A'), await publish('B')];
      await fanOut();
      const batch = await repo.claim(adapter, 'w1', ['a'], 10, 1_000);
      const holder = await connect();
      await holder.query('begin');
      await holder.query(`select 1 from integration_delivery where event_id = $1 for update`, [e1]);
      expect(await repo.extendLease(adapter.root, 'w1', batch, 120_000)).toBe(1);
      expect((await row(e2)).lease_ms).toBeGreaterThan(100_000);
      expect((await row(e1)).lease_ms).toBe(1_000);
      await holder.query('commit');
      expect(await repo.extendLease(adapter.root, 'w2', batch, 120_000)).toBe(0);
      expect(await repo.extendLease(adapter.root, 'w1', [], 120_000)).toBe(0);
      expect(await repo.extendLease(adapter.root, 'w1', batch, 120_000)).toBe(2);
    });

    it('settle, extendLease and the processed mark probe the primary key, not a partial index through its second column', async () => {
      // 20,000 processed deliveries and a claimed batch of 100: the partial indexes (key,
      // lease) hold only the batch, which made a scan of one of them by consumer alone look
      // cheaper than a primary-key probe per delivery (on PostgreSQL 15, with the statements
      // naming the status in their lookups; such a scan grows with the index's dead entries).
      await consumer('a', THING_ALL);
      await pool.query(
        `with ev as (
           insert into outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
           select ('00000000-0000-7000-8000-' || lpad(to_hex(g), 12, '0'))::uuid, 'thing.created',
                  'Thing', g::text, 'K' || g, '{}'::jsonb
             from generate_series(1, 20100) g
           returning id, (aggregate_id)::int as n, ordering_key)
         insert into integration_delivery (event_id, consumer_name, position, ordering_key, status,
                                           processed_at, locked_by, locked_until, attempt_count)
         select id, 'a', n, ordering_key,
                case when n > 20000 then 'processing' else 'processed' end,
                case when n > 20000 then null else now() end,
                case when n > 20000 then 'w1' end,
                case when n > 20000 then now() + interval '1 minute' end, 1
           from ev`,
      );
      await pool.query('vacuum analyze outbox_event, integration_delivery');
      const batch = (
        await repo.findByEvents(
          adapter.root,
          (
            await pool.query<{ id: string }>(
              `select event_id::text as id from integration_delivery where status = 'processing'`,
            )
          ).rows.map((r) => r.id),
        )
      ).map((d) => ({ eventId: d.eventId, consumer: d.consumer, attempt: 1 }) as ClaimedDelivery);
      expect(batch).toHaveLength(100);
      const sent: Array<{ text: string; params: readonly unknown[] }> = [];
      const explainOnly: SqlExecutor = {
        query: async <T>(text: string, params: readonly unknown[] = []) => {
          sent.push({ text, params });
          return { rows: [] as T[], rowCount: 0 };
        },
      };
      await repo.settle(explainOnly, 'w1', [settleOne(batch[0]!, { action: 'processed' })]);
      await repo.extendLease(explainOnly, 'w1', batch, 60_000);
      await new DeliveryMark(tables).mark(explainOnly, 'w1', batch);
      expect(sent).toHaveLength(3);
      for (const { text, params } of sent) {
        const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`explain ${text}`, [...params]);
        const plan = rows.map((r) => r['QUERY PLAN']).join('\n');
        expect(plan).toMatch(/integration_delivery_pkey/);
        expect(plan).not.toMatch(/integration_delivery_(key|lease)_idx/);
      }
    });

    it('releaseAll puts back everything a worker holds, attempts restored', async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      await publish('A');
      await publish('B');
      await fanOut();
      await repo.claim(adapter, 'w1', ['a'], 10, 60_000);
      await repo.claim(adapter, 'w2', ['b'], 10, 60_000);
      expect(await repo.releaseAll(adapter.root, 'w1')).toBe(2);
      const rows = await deliveries();
      expect(rows.filter((d) => d.consumer_name === 'a')).toEqual(
        rows
          .filter((d) => d.consumer_name === 'a')
          .map((d) => ({
            ...d,
            status: 'pending',
            attempt_count: 0,
            locked_by: null,
            claim_count: 1,
          })),
      );
      expect(rows.filter((d) => d.status === 'processing')).toHaveLength(2);
    });
  });

  describe('replay, finders and counts', () => {
    it('replays dead letters per consumer, per event and by event fields, oldest first', async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_ALL);
      const e1 = await publish('A', { tenant: 't1', aggregateId: 'agg-1' });
      const e2 = await publish('B', { name: 'thing.deleted' });
      const e3 = await publish('C', { tenant: 't2', aggregateId: 'agg-1' });
      await fanOut();
      await pool.query(`update integration_delivery set status = 'dead_letter', attempt_count = 3`);

      expect(
        claimed(await repo.replay(adapter.root, checkReplayFilter({ consumer: 'a', limit: 2 }))),
      ).toEqual([`a:${e1}`, `a:${e2}`]);
      expect(await row(e1)).toMatchObject({ status: 'pending', attempt_count: 0 });
      expect(claimed(await repo.replay(adapter.root, checkReplayFilter({ eventId: e2 })))).toEqual([
        `b:${e2}`,
      ]);
      expect(
        claimed(await repo.replay(adapter.root, checkReplayFilter({ tenantId: 't2' }))),
      ).toEqual([`a:${e3}`, `b:${e3}`]);
      expect(
        claimed(
          await repo.replay(
            adapter.root,
            checkReplayFilter({ aggregateId: 'agg-1', eventName: 'thing.created' }),
          ),
        ),
      ).toEqual([`b:${e1}`]);
      expect(await repo.replay(adapter.root, checkReplayFilter({}))).toEqual([]);
      expect((await deliveries()).every((d) => d.status === 'pending')).toBe(true);

      await pool.query(`update integration_delivery set status = 'dead_letter'`);
      expect(
        claimed(await repo.replay(adapter.root, checkReplayFilter({ tenantId: null }))),
      ).toEqual([`a:${e2}`, `b:${e2}`]);
      expect(await repo.replay(adapter.root, checkReplayFilter(undefined))).toHaveLength(4);
    });

    it('checks a replay filter before any SQL, naming the closest key', () => {
      expect(() => checkReplayFilter({ consumerName: 'a' })).toThrow(InvalidQueryError);
      expect(() => checkReplayFilter({ consumerName: 'a' })).toThrow(/did you mean 'consumer'/);
      expect(() => checkReplayFilter({ eventId: 'nope' })).toThrow(InvalidEventIdError);
      expect(() => checkReplayFilter({ consumer: '' })).toThrow(/filter\.consumer/);
      expect(() => checkReplayFilter({ limit: 0 })).toThrow(/replayDeliveries: filter\.limit/);
      expect(checkReplayFilter({ tenantId: null, limit: 3 })).toEqual({
        tenantId: null,
        allTenants: false,
        limit: 3,
      });
    });

    it("finds an event's deliveries, counts per consumer, and what is busy", async () => {
      await consumer('a', THING_ALL);
      await consumer('b', THING_CREATED);
      await consumer('idle', '^(?:\\.nothing)$');
      const e1 = await publish('A');
      const e2 = await publish('B', { name: 'thing.deleted' });
      await publish('C');
      await fanOut();
      const records = await repo.findByEvent(adapter.root, e1);
      expect(records.map((r) => [r.consumer, r.status, r.position])).toEqual([
        ['a', DeliveryStatus.Pending, '1'],
        ['b', DeliveryStatus.Pending, '1'],
      ]);
      expect(records[0]).toMatchObject({
        eventId: e1,
        orderingKey: 'A',
        attemptCount: 0,
        claimCount: 0,
        lockedBy: null,
        lockedUntil: null,
        lastError: null,
        processedAt: null,
      });
      expect(records[0]!.availableAt).toBeInstanceOf(Date);
      await expect(repo.findByEvent(adapter.root, 'x')).rejects.toThrow(InvalidEventIdError);

      const [c] = await repo.claim(adapter, 'w1', ['a'], 1, 60_000);
      await repo.settle(adapter.root, 'w1', [settleOne(c!, { action: 'processed' })]);
      await repo.claim(adapter, 'w1', ['a'], 1, 60_000); // e2: processing
      await pool.query(
        `update integration_delivery set status = 'dead_letter' where consumer_name = 'b' and event_id = $1`,
        [e1],
      );
      await pool.query(`update integration_delivery set created_at = now() - interval '5 seconds'`);
      expect((await repo.findByEvent(adapter.root, e2)).map((r) => r.status)).toEqual([
        DeliveryStatus.Processing,
      ]);
      const stats = await repo.stats(adapter.root);
      expect(stats.map((s) => ({ ...s, oldestPendingAgeMs: s.oldestPendingAgeMs > 0 }))).toEqual([
        {
          consumer: 'a',
          pending: 1,
          processing: 1,
          processed: 1,
          deadLetter: 0,
          skipped: 0,
          oldestPendingAgeMs: true,
        },
        {
          consumer: 'b',
          pending: 1,
          processing: 0,
          processed: 0,
          deadLetter: 1,
          skipped: 0,
          oldestPendingAgeMs: true,
        },
        {
          consumer: 'idle',
          pending: 0,
          processing: 0,
          processed: 0,
          deadLetter: 0,
          skipped: 0,
          oldestPendingAgeMs: false,
        },
      ]);
      expect(stats[0]!.oldestPendingAgeMs).toBeGreaterThanOrEqual(5_000);
      expect(stats[1]!.oldestPendingAgeMs).toBeGreaterThanOrEqual(5_000);
      expect(await repo.busyCount(adapter.root)).toBe(3);
      expect(await repo.busyCount(adapter.root, ['a'])).toBe(2);
      expect(await repo.busyCount(adapter.root, ['b', 'idle'])).toBe(1);
      await pool.query(
        `update integration_delivery set available_at = now() + interval '1 hour' where status = 'pending'`,
      );
      expect(await repo.busyCount(adapter.root)).toBe(1);
    });
  });
});
