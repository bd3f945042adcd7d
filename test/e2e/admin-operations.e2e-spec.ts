import { Client, Pool } from 'pg';
import {
  DeliveryNotFoundError,
  DeliveryStatus,
  EventNotFoundError,
  InvalidDeliveryStateError,
  InvalidEventIdError,
  InvalidQueryError,
} from '../../src/integration';
import { AdminOperations } from '../../src/integration/admin/admin-operations';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import type { SqlExecutor } from '../../src/integration/database/sql-executor';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';
import { markAllSequenced } from '../support/sequenced';

/** What to seed: `n` events, each with a delivery per consumer in one status. */
interface SeedSpec {
  readonly n?: number;
  readonly eventName?: string;
  readonly consumers?: readonly string[];
  readonly status?: DeliveryStatus;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  readonly tenantId?: string | null;
  readonly correlationId?: string | null;
  /** Every delivery's updated_at (ties on purpose), as seconds before now. */
  readonly updatedSecondsAgo?: number;
  readonly createdSecondsAgo?: number;
  readonly lockedBy?: string;
  /** False: leave the events past the sequencer's horizon (as the tenant lane may). */
  readonly sequenced?: boolean;
}

describe('admin operations on a real database (issue 15)', () => {
  let db: TestDatabase;
  let pool: Pool;
  /** Every statement the admin sent, in order. */
  const sent: string[] = [];
  /** The parameters each statement text was last sent with. */
  const paramsOf = new Map<string, unknown[]>();
  const executor: SqlExecutor = {
    query: async <T>(text: string, params?: readonly unknown[]) => {
      sent.push(text);
      paramsOf.set(text, [...(params ?? [])]);
      const r = await pool.query(text, params as unknown[]);
      return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
    },
  };
  const logged: string[] = [];
  const channel = 'admin_core_test';
  let admin: AdminOperations;
  let position = 0;

  /** Seeds events with their deliveries; returns the event ids (newest first). */
  const seed = async (spec: SeedSpec = {}): Promise<string[]> => {
    const n = spec.n ?? 1;
    const consumers = spec.consumers ?? ['billing'];
    const { rows } = await pool.query<{ id: string }>(
      `WITH ev AS (
         INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key,
                                   payload, headers, tenant_id, correlation_id, created_at)
         SELECT gen_random_uuid(), $1, $2, coalesce($3, 'a-' || g), 'k-' || g,
                jsonb_build_object('n', g), '{"h": "v"}', $4, $5,
                now() - $6::float8 * interval '1 second' - g * interval '1 millisecond'
           FROM generate_series(1, $7::int) g
         RETURNING id, ordering_key, created_at
       ), d AS (
         INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key, status,
                                           attempt_count, last_error, locked_by, locked_until, updated_at)
         SELECT ev.id, c, $8::bigint + row_number() OVER (), ev.ordering_key, $9, 3, 'boom', $10,
                CASE WHEN $10::text IS NULL THEN NULL ELSE now() + interval '1 minute' END,
                now() - $11::float8 * interval '1 second'
           FROM ev CROSS JOIN unnest($12::text[]) c
       )
       SELECT id::text AS id FROM ev ORDER BY created_at DESC`,
      [
        spec.eventName ?? 'order.placed',
        spec.aggregateType ?? 'Order',
        spec.aggregateId ?? null,
        spec.tenantId ?? null,
        spec.correlationId ?? null,
        spec.createdSecondsAgo ?? 0,
        n,
        position,
        spec.status ?? DeliveryStatus.DeadLetter,
        spec.lockedBy ?? null,
        spec.updatedSecondsAgo ?? 0,
        consumers,
      ],
    );
    position += n * consumers.length;
    if (spec.sequenced !== false) await markAllSequenced(pool);
    return rows.map((r) => r.id);
  };
  const statusOf = async (eventId: string, consumer: string) => {
    const { rows } = await pool.query<{
      status: string;
      attempt_count: number;
      last_error: string;
    }>(
      'SELECT status, attempt_count, last_error FROM integration_delivery WHERE event_id = $1 AND consumer_name = $2',
      [eventId, consumer],
    );
    return rows[0];
  };
  const auditRows = async () =>
    (
      await pool.query<{
        id: string;
        action: string;
        actor: string;
        reason: string | null;
        target: Record<string, unknown>;
        affected: number;
        dry_run: boolean;
        complete: boolean;
      }>(
        'SELECT id::text AS id, action, actor, reason, target, affected, dry_run, complete FROM integration_audit a ORDER BY a.id',
      )
    ).rows;
  /** Every page of a listing, following the cursors. */
  const allPages = async <T>(
    list: (after?: string) => Promise<{ items: readonly T[]; nextCursor: string | null }>,
  ): Promise<T[][]> => {
    const pages: T[][] = [];
    let after: string | undefined;
    for (;;) {
      const page = await list(after);
      pages.push([...page.items]);
      if (page.nextCursor === null) return pages;
      after = page.nextCursor;
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    admin = new AdminOperations(executor, {
      tables: new IntegrationTables(),
      notifyChannel: channel,
      logger: { log: (m) => logged.push(m) },
    });
  });
  afterEach(async () => {
    await pool.query(
      'TRUNCATE outbox_event, integration_delivery, integration_audit, integration_consumer_stats',
    );
    sent.length = 0;
    logged.length = 0;
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  describe('listDeliveries and countDeliveries', () => {
    it('lists dead letters by default, newest first, with their events, and counts them', async () => {
      const older = await seed({ n: 2, updatedSecondsAgo: 60 });
      const newer = await seed({ n: 1, updatedSecondsAgo: 1, eventName: 'order.shipped' });
      await seed({ n: 3, status: DeliveryStatus.Processed });
      await seed({ n: 2, status: DeliveryStatus.Pending });
      const page = await admin.listDeliveries();
      expect(page.nextCursor).toBeNull();
      expect(page.items.map((d) => d.eventId)).toEqual([newer[0], ...[...older].sort().reverse()]);
      const first = page.items[0]!;
      expect(first).toMatchObject({
        consumer: 'billing',
        status: 'dead_letter',
        attemptCount: 3,
        lastError: 'boom',
        eventName: 'order.shipped',
        aggregateType: 'Order',
        tenantId: null,
        correlationId: null,
      });
      expect(first.eventCreatedAt).toBeInstanceOf(Date);
      expect(await admin.countDeliveries()).toBe(3);
    });

    it('filters by consumer, event name, aggregate, tenant, correlation id, time range and status', async () => {
      const [billing] = await seed({ consumers: ['billing'], updatedSecondsAgo: 30 });
      const [mailer] = await seed({ consumers: ['mailer'], updatedSecondsAgo: 30 });
      const [shipped] = await seed({ eventName: 'order.shipped', updatedSecondsAgo: 30 });
      const [agg] = await seed({
        aggregateType: 'Invoice',
        aggregateId: 'inv-1',
        updatedSecondsAgo: 30,
      });
      const [tenantA] = await seed({ tenantId: 'tenant-a', updatedSecondsAgo: 30 });
      const [corr] = await seed({ correlationId: 'corr-1', updatedSecondsAgo: 30 });
      const [old] = await seed({ updatedSecondsAgo: 3600 });
      const [skipped] = await seed({ status: DeliveryStatus.Skipped });
      const [leased] = await seed({ status: DeliveryStatus.Processing, lockedBy: 'w1' });
      const ids = async (filter: Parameters<AdminOperations['listDeliveries']>[0]) => {
        const page = await admin.listDeliveries(filter);
        expect(await admin.countDeliveries(filter)).toBe(page.items.length);
        return page.items.map((d) => d.eventId).sort();
      };
      expect(await ids({ consumer: 'mailer' })).toEqual([mailer]);
      expect(await ids({ eventName: 'order.shipped' })).toEqual([shipped]);
      expect(await ids({ aggregateType: 'Invoice' })).toEqual([agg]);
      expect(await ids({ aggregateType: 'Invoice', aggregateId: 'inv-1' })).toEqual([agg]);
      expect(await ids({ aggregateType: 'Invoice', aggregateId: 'inv-2' })).toEqual([]);
      expect(await ids({ tenantId: 'tenant-a' })).toEqual([tenantA]);
      expect(await ids({ tenantId: null })).toEqual(
        [billing, mailer, shipped, agg, corr, old].sort(),
      );
      expect(await ids({ correlationId: 'corr-1' })).toEqual([corr]);
      const now = Date.now();
      expect(await ids({ to: new Date(now - 600_000) })).toEqual([old]);
      expect(await ids({ from: new Date(now - 600_000) })).toEqual(
        [billing, mailer, shipped, agg, tenantA, corr].sort(),
      );
      expect(
        await ids({
          from: new Date(now - 7200_000),
          to: new Date(now - 600_000),
          consumer: 'billing',
        }),
      ).toEqual([old]);
      expect(await ids({ status: DeliveryStatus.Skipped })).toEqual([skipped]);
      expect(await ids({ status: DeliveryStatus.Skipped, consumer: 'billing' })).toEqual([skipped]);
      expect(await ids({ status: DeliveryStatus.Processing })).toEqual([leased]);
      expect(await ids({ consumer: 'mailer', eventName: 'order.shipped' })).toEqual([]);
      expect(billing).toBeDefined();
    });

    it('pages through ties and concurrent inserts without repeating or skipping a row', async () => {
      // 130 deliveries with the same updated_at (one settle's now()), over two consumers.
      await seed({ n: 65, consumers: ['billing', 'mailer'], updatedSecondsAgo: 10 });
      await seed({ n: 20, updatedSecondsAgo: 20 });
      const before = new Set(
        (await allPages((after) => admin.listDeliveries({}, { limit: 500, after })))
          .flat()
          .map((d) => `${d.eventId}/${d.consumer}`),
      );
      expect(before.size).toBe(150);
      const seen: string[] = [];
      let after: string | undefined;
      let pages = 0;
      for (;;) {
        const page = await admin.listDeliveries({}, { limit: 40, ...(after ? { after } : {}) });
        pages++;
        seen.push(...page.items.map((d) => `${d.eventId}/${d.consumer}`));
        // New dead letters arrive between pages: newer ones (before the cursor) never show up
        // on later pages.
        await seed({ n: 3, updatedSecondsAgo: 0 });
        if (page.nextCursor === null) break;
        after = page.nextCursor;
      }
      expect(pages).toBe(4);
      expect(seen).toHaveLength(150);
      expect(new Set(seen)).toEqual(before);
      // Newest first across pages.
      const listed = (
        await allPages((a) => admin.listDeliveries({}, { limit: 7, after: a }))
      ).flat();
      for (let i = 1; i < listed.length; i++) {
        expect(listed[i - 1]!.updatedAt.getTime()).toBeGreaterThanOrEqual(
          listed[i]!.updatedAt.getTime(),
        );
      }
      expect(new Set(listed.map((d) => `${d.eventId}/${d.consumer}`)).size).toBe(listed.length);
    });

    it('reads the index of each filter it offers when the filter is selective', async () => {
      // Many dead letters, and a few rows that each filter singles out; with statistics, a
      // selective filter must be served by its index (a missing index shows as another plan).
      await seed({ n: 1500, consumers: ['billing', 'mailer'], updatedSecondsAgo: 7200 });
      await seed({ n: 5, consumers: ['rare'], updatedSecondsAgo: 7200 });
      await seed({ n: 5, eventName: 'rare.event', updatedSecondsAgo: 7200 });
      await seed({ n: 5, aggregateType: 'Invoice', aggregateId: 'inv-1', updatedSecondsAgo: 7200 });
      await seed({ n: 5, tenantId: 't', updatedSecondsAgo: 7200 });
      await seed({ n: 5, correlationId: 'corr-x', updatedSecondsAgo: 7200 });
      await seed({ n: 5, updatedSecondsAgo: 1 });
      await seed({ n: 5, status: DeliveryStatus.Skipped, consumers: ['rare'] });
      const [leased] = await seed({ n: 5, status: DeliveryStatus.Processing, lockedBy: 'w1' });
      await seed({ n: 1500, status: DeliveryStatus.Processed, correlationId: 'common' });
      await pool.query('ANALYZE outbox_event; ANALYZE integration_delivery');
      const cursor = (await admin.listDeliveries({}, { limit: 1 })).nextCursor!;
      const eventCursor = (await admin.listEvents({}, { limit: 1 })).nextCursor!;
      const from = new Date(Date.now() - 60_000);
      const expectations: Array<[() => Promise<unknown>, RegExp]> = [
        [() => admin.listDeliveries(), /integration_delivery_dead_letter_recent_idx/],
        [
          () => admin.listDeliveries({}, { after: cursor }),
          /integration_delivery_dead_letter_recent_idx/,
        ],
        [() => admin.listDeliveries({ consumer: 'rare' }), /integration_delivery_dead_letter_idx/],
        [() => admin.listDeliveries({ eventName: 'rare.event' }), /outbox_event_name_idx/],
        [
          () => admin.listDeliveries({ aggregateType: 'Invoice', aggregateId: 'inv-1' }),
          /outbox_event_aggregate_idx/,
        ],
        [() => admin.listDeliveries({ tenantId: 't' }), /outbox_event_tenant_idx/],
        [() => admin.listDeliveries({ correlationId: 'corr-x' }), /outbox_event_correlation_idx/],
        [() => admin.listDeliveries({ from }), /integration_delivery_dead_letter_recent_idx/],
        [
          () => admin.listDeliveries({ status: DeliveryStatus.Skipped }),
          /integration_delivery_skipped_recent_idx/,
        ],
        [
          () => admin.listDeliveries({ status: DeliveryStatus.Skipped, consumer: 'rare' }),
          /integration_delivery_skipped_(consumer|recent)_idx/,
        ],
        [
          () => admin.listDeliveries({ status: DeliveryStatus.Processing }),
          /integration_delivery_lease_idx/,
        ],
        [() => admin.countDeliveries({ consumer: 'rare' }), /integration_delivery_dead_letter_idx/],
        [() => admin.countDeliveries({ eventName: 'rare.event' }), /outbox_event_name_idx/],
        [() => admin.listEvents(), /outbox_event_created_idx/],
        [() => admin.listEvents({}, { after: eventCursor }), /outbox_event_created_idx/],
        [() => admin.listEvents({ eventName: 'rare.event' }), /outbox_event_name_idx/],
        [
          () => admin.listEvents({ aggregateType: 'Invoice', aggregateId: 'inv-1' }),
          /outbox_event_aggregate_idx/,
        ],
        [() => admin.listEvents({ tenantId: 't' }), /outbox_event_tenant_idx/],
        [() => admin.listEvents({ correlationId: 'corr-x' }), /outbox_event_correlation_idx/],
        [() => admin.listEvents({ from }), /outbox_event_created_idx/],
        [() => admin.getEvent(leased!), /outbox_event_correlation_idx/],
      ];
      for (const [call, index] of expectations) {
        sent.length = 0;
        await call();
        const plans: string[] = [];
        for (const text of sent) {
          const { rows } = await pool.query<{ 'QUERY PLAN': string }>(
            `EXPLAIN ${text}`,
            paramsOf.get(text),
          );
          plans.push(rows.map((r) => r['QUERY PLAN']).join('\n'));
        }
        const plan = plans.join('\n---\n');
        expect({ call: call.toString(), plan }).toEqual({
          call: call.toString(),
          plan: expect.stringMatching(index),
        });
        // (getEvent's deliveries come from DeliveryRepository.findByEvents, planned for a list of
        // ids: on a table this small the planner may scan it; not an admin filter.)
        const own = plans.filter((_p, i) => !sent[i]!.includes('jsonb_array_elements_text'));
        expect(own.join('\n')).not.toMatch(/Seq Scan on (integration_delivery|outbox_event)/);
      }
    });
  });

  describe('listEvents and countEvents', () => {
    it('lists events newest first without payload, filters and pages them', async () => {
      const older = await seed({ n: 3, createdSecondsAgo: 100, eventName: 'order.placed' });
      const newer = await seed({ n: 2, eventName: 'order.shipped', tenantId: 'acme' });
      const page1 = await admin.listEvents({}, { limit: 4 });
      expect(page1.items.map((e) => e.id)).toEqual([...newer, ...older].slice(0, 4));
      expect(page1.items[0]).not.toHaveProperty('payload');
      expect(page1.items[0]).not.toHaveProperty('headers');
      expect(page1.items[0]).toMatchObject({ name: 'order.shipped', tenantId: 'acme' });
      const page2 = await admin.listEvents({}, { limit: 4, after: page1.nextCursor! });
      expect(page2.items.map((e) => e.id)).toEqual([older[2]]);
      expect(page2.nextCursor).toBeNull();
      expect(await admin.countEvents()).toBe(5);
      expect(
        (await admin.listEvents({ eventName: 'order.placed' })).items.map((e) => e.id),
      ).toEqual(older);
      expect(await admin.countEvents({ tenantId: 'acme' })).toBe(2);
      expect(await admin.countEvents({ tenantId: null })).toBe(3);
      expect(await admin.countEvents({ to: new Date(Date.now() - 50_000) })).toBe(3);
      expect(await admin.countEvents({ from: new Date(Date.now() - 50_000) })).toBe(2);
    });
  });

  describe('getEvent', () => {
    it('returns the event in full, every delivery, and its correlated events', async () => {
      const [root] = await seed({ consumers: ['billing', 'mailer'], correlationId: 'flow-1' });
      const sameFlow = await seed({ n: 2, correlationId: 'flow-1', createdSecondsAgo: 5 });
      const caused = await seed({ n: 1, correlationId: root! });
      await seed({ n: 2, correlationId: 'flow-2' });
      const detail = (await admin.getEvent(root!))!;
      expect(detail.event).toMatchObject({ id: root, payload: { n: 1 }, headers: { h: 'v' } });
      expect(detail.deliveries.map((d) => d.consumer).sort()).toEqual(['billing', 'mailer']);
      // Oldest first, itself excluded.
      expect(detail.correlated.map((e) => e.id)).toEqual([...[...sameFlow].reverse(), ...caused]);
      expect(await admin.getEvent('0190d2a4-0000-7000-8000-000000000000')).toBeUndefined();
    });

    it('bounds the correlated events to 100', async () => {
      const [root] = await seed({ correlationId: 'big-flow' });
      await seed({ n: 120, correlationId: 'big-flow', createdSecondsAgo: 10 });
      const detail = (await admin.getEvent(root!))!;
      expect(detail.correlated).toHaveLength(100);
      expect(detail.correlated.map((e) => e.id)).not.toContain(root);
    });
  });

  describe('single actions', () => {
    it('replayDelivery puts one dead letter back to pending, audits it and wakes the processors', async () => {
      const [id] = await seed({ consumers: ['billing', 'mailer'] });
      const listener = new Client({ connectionString: db.url });
      await listener.connect();
      const notified: string[] = [];
      listener.on('notification', (n) => notified.push(n.channel));
      await listener.query(`LISTEN ${channel}`);
      try {
        const result = await admin.replayDelivery(id!, 'billing', {
          actor: 'alice',
          reason: 'fixed',
        });
        expect(result).toEqual({
          action: 'replay',
          affected: 1,
          dryRun: false,
          complete: true,
          auditId: expect.any(String),
        });
        expect(await statusOf(id!, 'billing')).toEqual({
          status: 'pending',
          attempt_count: 0,
          last_error: 'boom',
        });
        expect((await statusOf(id!, 'mailer'))!.status).toBe('dead_letter');
        expect(await auditRows()).toEqual([
          {
            id: result.auditId,
            action: 'replay',
            actor: 'alice',
            reason: 'fixed',
            target: { eventId: id, consumer: 'billing' },
            affected: 1,
            dry_run: false,
            complete: true,
          },
        ]);
        await waitFor(() => (notified.length > 0 ? true : undefined));
        expect(notified).toEqual([channel]);
        expect(logged).toEqual([`Replayed 1 delivery (actor "alice", audit #${result.auditId})`]);
      } finally {
        await listener.end();
      }
    });

    it('refuses a single action on a delivery in the wrong status, an unknown consumer or event, without an audit row', async () => {
      const [done] = await seed({
        status: DeliveryStatus.Processed,
        consumers: ['billing', 'mailer'],
      });
      const [leased] = await seed({ status: DeliveryStatus.Processing, lockedBy: 'w1' });
      const by = { actor: 'bob', reason: 'why' };
      await expect(admin.replayDelivery(done!, 'billing', by)).rejects.toThrow(
        InvalidDeliveryStateError,
      );
      await expect(admin.discardDelivery(leased!, 'billing', by)).rejects.toThrow(
        /it is processing.*try again once its attempt ended/,
      );
      const unknown = admin.replayDelivery(done!, 'biling', by);
      await expect(unknown).rejects.toBeInstanceOf(DeliveryNotFoundError);
      await expect(unknown).rejects.toThrow(
        'Did you mean "billing"? Its consumers: billing, mailer.',
      );
      await expect(
        admin.replayDelivery('0190d2a4-0000-7000-8000-000000000000', 'billing', by),
      ).rejects.toBeInstanceOf(EventNotFoundError);
      await expect(
        admin.replayEvent('0190d2a4-0000-7000-8000-000000000000', by),
      ).rejects.toBeInstanceOf(EventNotFoundError);
      expect(await auditRows()).toEqual([]);
      expect((await statusOf(leased!, 'billing'))!.status).toBe('processing');
    });

    it('replayEvent replays every dead letter of one event (and audits even when there is none)', async () => {
      const [id] = await seed({ consumers: ['billing', 'mailer'] });
      const [processed] = await seed({ status: DeliveryStatus.Processed });
      const result = await admin.replayEvent(id!, { actor: 'alice' });
      expect(result).toMatchObject({ action: 'replay', affected: 2, complete: true });
      expect((await statusOf(id!, 'billing'))!.status).toBe('pending');
      expect((await statusOf(id!, 'mailer'))!.status).toBe('pending');
      const none = await admin.replayEvent(processed!, { actor: 'alice' });
      expect(none.affected).toBe(0);
      const audit = await auditRows();
      expect(audit.map((a) => [a.action, a.affected, a.reason, a.target])).toEqual([
        ['replay', 2, null, { eventId: id }],
        ['replay', 0, null, { eventId: processed }],
      ]);
    });

    it('discardDelivery marks a pending or dead-lettered delivery skipped with the reason', async () => {
      const [dead] = await seed();
      const [pending] = await seed({ status: DeliveryStatus.Pending });
      const by = { actor: 'carol', reason: 'customer deleted' };
      expect(await admin.discardDelivery(dead!, 'billing', by)).toMatchObject({
        action: 'discard',
        affected: 1,
      });
      expect(await admin.discardDelivery(pending!, 'billing', by)).toMatchObject({ affected: 1 });
      for (const id of [dead!, pending!]) {
        expect(await statusOf(id, 'billing')).toMatchObject({
          status: 'skipped',
          last_error: 'discarded: customer deleted',
        });
      }
      const audit = await auditRows();
      expect(audit.map((a) => [a.action, a.actor, a.reason, a.affected])).toEqual([
        ['discard', 'carol', 'customer deleted', 1],
        ['discard', 'carol', 'customer deleted', 1],
      ]);
    });
  });

  describe('bulk actions', () => {
    it('replayDeliveries stops at the limit, in batches, and resumes on the next call', async () => {
      await seed({ n: 700, consumers: ['billing', 'mailer'] });
      await seed({ n: 5, consumers: ['billing'], eventName: 'other.event' });
      const filter = { eventName: 'order.placed' };
      const first = await admin.replayDeliveries(filter, { actor: 'ops', limit: 1100 });
      expect(first).toMatchObject({
        action: 'replay',
        affected: 1100,
        complete: false,
        dryRun: false,
      });
      // Batches of at most 500 rows, one statement each.
      const batches = sent.filter((s) => s.includes('FOR UPDATE OF d SKIP LOCKED'));
      expect(batches).toHaveLength(3);
      const second = await admin.replayDeliveries(filter, { actor: 'ops', limit: 1100 });
      expect(second).toMatchObject({ affected: 300, complete: true });
      const third = await admin.replayDeliveries(filter, { actor: 'ops' });
      expect(third).toMatchObject({ affected: 0, complete: true });
      const { rows } = await pool.query<{ status: string; n: number }>(
        `SELECT d.status, count(*)::int AS n FROM integration_delivery d
           JOIN outbox_event e ON e.id = d.event_id GROUP BY d.status, e.event_name = 'order.placed'
          ORDER BY 1`,
      );
      expect(rows).toEqual([
        { status: 'dead_letter', n: 5 },
        { status: 'pending', n: 1400 },
      ]);
      const audit = await auditRows();
      expect(audit.map((a) => [a.affected, a.complete, a.target])).toEqual([
        [1100, false, filter],
        [300, true, filter],
        [0, true, filter],
      ]);
    });

    it('a dry run counts what would change and changes nothing', async () => {
      await seed({ n: 30, consumers: ['billing'] });
      const dry = await admin.replayDeliveries(
        { consumer: 'billing' },
        { actor: 'ops', dryRun: true, limit: 20 },
      );
      expect(dry).toMatchObject({ affected: 20, dryRun: true, complete: false });
      const dryAll = await admin.discardDeliveries(
        { consumer: 'billing' },
        { actor: 'ops', reason: 'test', dryRun: true },
      );
      expect(dryAll).toMatchObject({
        action: 'discard',
        affected: 30,
        dryRun: true,
        complete: true,
      });
      const dryPurge = await admin.purgeDeadLetters(
        { olderThan: new Date(Date.now() + 60_000) },
        { actor: 'ops', reason: 'test', dryRun: true },
      );
      expect(dryPurge).toMatchObject({ action: 'purge-dead-letters', affected: 30, dryRun: true });
      expect(await admin.countDeliveries({ consumer: 'billing' })).toBe(30);
      expect((await auditRows()).map((a) => [a.action, a.affected, a.dry_run, a.complete])).toEqual(
        [
          ['replay', 20, true, false],
          ['discard', 30, true, true],
          ['purge-dead-letters', 30, true, true],
        ],
      );
      expect(logged).toEqual([]);
    });

    it('discardDeliveries skips the matching dead letters with the reason', async () => {
      const a = await seed({ n: 3, tenantId: 'acme' });
      await seed({ n: 2, tenantId: 'other' });
      const result = await admin.discardDeliveries(
        { tenantId: 'acme' },
        { actor: 'ops', reason: 'tenant closed' },
      );
      expect(result).toMatchObject({ action: 'discard', affected: 3, complete: true });
      for (const id of a) {
        expect(await statusOf(id, 'billing')).toMatchObject({
          status: 'skipped',
          last_error: 'discarded: tenant closed',
        });
      }
      expect(await admin.countDeliveries()).toBe(2);
      expect(await admin.countDeliveries({ status: DeliveryStatus.Skipped })).toBe(3);
    });

    it('purgeDeadLetters leaves dead letters of events the sequencer has not passed in commit order', async () => {
      // While the sequencer is behind, the tenant lane fans events out ahead of the runs in
      // commit order; the run that reaches such an event would create a purged delivery again.
      const [early] = await seed({ updatedSecondsAgo: 7200, sequenced: false });
      const olderThan = new Date(Date.now() - 3600_000);
      const by = { actor: 'ops', reason: 'old' };
      expect(await admin.purgeDeadLetters({ olderThan }, { ...by, dryRun: true })).toMatchObject({
        affected: 0,
        complete: true,
      });
      expect(await admin.purgeDeadLetters({ olderThan }, by)).toMatchObject({
        affected: 0,
        complete: true,
      });
      expect(await statusOf(early!, 'billing')).toMatchObject({ status: 'dead_letter' });
      // Still listed, replayable and discardable: a purge once the runs have passed it.
      expect(await admin.countDeliveries({ status: DeliveryStatus.DeadLetter })).toBe(1);
      await markAllSequenced(pool);
      expect(await admin.purgeDeadLetters({ olderThan }, by)).toMatchObject({
        affected: 1,
        complete: true,
      });
      expect(await statusOf(early!, 'billing')).toBeUndefined();
    });

    it('purgeDeadLetters deletes dead letters last changed before the date, of one consumer if given', async () => {
      await seed({ n: 4, consumers: ['billing', 'mailer'], updatedSecondsAgo: 7200 });
      const recent = await seed({ n: 2, updatedSecondsAgo: 10 });
      await seed({ n: 3, status: DeliveryStatus.Processed, updatedSecondsAgo: 7200 });
      const olderThan = new Date(Date.now() - 3600_000);
      const billing = await admin.purgeDeadLetters(
        { olderThan, consumer: 'billing' },
        { actor: 'ops', reason: 'handled by hand', limit: 3 },
      );
      expect(billing).toMatchObject({ affected: 3, complete: false });
      const rest = await admin.purgeDeadLetters({ olderThan }, { actor: 'ops', reason: 'old' });
      expect(rest).toMatchObject({ affected: 5, complete: true });
      const left = (await admin.listDeliveries()).items.map((d) => d.eventId).sort();
      expect(left).toEqual([...recent].sort());
      const { rows } = await pool.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM integration_delivery WHERE status = 'processed'",
      );
      expect(rows[0]!.n).toBe(3);
      const audit = await auditRows();
      expect(audit.map((a) => [a.action, a.affected, a.complete, a.target])).toEqual([
        [
          'purge-dead-letters',
          3,
          false,
          { olderThan: olderThan.toISOString(), consumer: 'billing' },
        ],
        ['purge-dead-letters', 5, true, { olderThan: olderThan.toISOString() }],
      ]);
    });
  });

  describe('listAudit', () => {
    it('lists audit rows newest first, paginated', async () => {
      // Ids 1 to 12: newest first must order them as numbers (10 after 9), not as text.
      await pool.query('TRUNCATE integration_audit RESTART IDENTITY');
      const [id] = await seed();
      const ids: string[] = [];
      for (let i = 0; i < 12; i++)
        ids.push((await admin.replayEvent(id!, { actor: `a${i}` })).auditId);
      const pages = await allPages((after) =>
        admin.listAudit({ limit: 5, ...(after ? { after } : {}) }),
      );
      expect(pages.map((p) => p.map((a) => a.id))).toEqual([
        ids.slice(7).reverse(),
        ids.slice(2, 7).reverse(),
        ids.slice(0, 2).reverse(),
      ]);
      expect(pages[0]![0]).toMatchObject({
        id: '12',
        action: 'replay',
        actor: 'a11',
        reason: null,
        target: { eventId: id },
        affected: 0,
        dryRun: false,
        complete: true,
      });
      expect(pages[0]![0]!.createdAt).toBeInstanceOf(Date);
      expect((await admin.listAudit()).items).toHaveLength(12);
    });
  });

  describe('getOverview', () => {
    it('sums the instances per consumer and minute over the window, with the backlog', async () => {
      await seed({ n: 2 });
      await pool.query(
        "INSERT INTO integration_consumer (name, patterns, pattern_regex) VALUES ('billing', '{order.*}', '.*')",
      );
      await pool.query(
        `INSERT INTO integration_consumer_stats
           (bucket, consumer_name, worker_id, processed, retried, dead_lettered, latency_ms_sum, latency_ms_max)
         VALUES (date_trunc('minute', now()), 'billing', 'w1', 10, 1, 0, 100, 30),
                (date_trunc('minute', now()), 'billing', 'w2', 30, 2, 1, 300, 50),
                (date_trunc('minute', now()) - interval '2 minutes', 'billing', 'w1', 0, 4, 2, 0, 0),
                (date_trunc('minute', now()) - interval '10 minutes', 'billing', 'w1', 5, 0, 0, 5, 1),
                (date_trunc('minute', now()), 'mailer', 'w1', 1, 0, 0, 7, 7)`,
      );
      const overview = await admin.getOverview({ minutes: 5 });
      const minute = (ago: number) => {
        const d = new Date(Date.now());
        d.setUTCSeconds(0, 0);
        return d.getTime() - ago * 60_000;
      };
      expect(overview.throughput.map((p) => ({ ...p, at: p.at.getTime() }))).toEqual([
        {
          consumer: 'billing',
          at: minute(2),
          processed: 0,
          retried: 4,
          deadLettered: 2,
          meanLatencyMs: null,
          maxLatencyMs: null,
        },
        {
          consumer: 'billing',
          at: minute(0),
          processed: 40,
          retried: 3,
          deadLettered: 1,
          meanLatencyMs: 10,
          maxLatencyMs: 50,
        },
        {
          consumer: 'mailer',
          at: minute(0),
          processed: 1,
          retried: 0,
          deadLettered: 0,
          meanLatencyMs: 7,
          maxLatencyMs: 7,
        },
      ]);
      expect(overview.backlog).toEqual([
        expect.objectContaining({ consumer: 'billing', deadLetter: 2, pending: 0 }),
      ]);
      expect((await admin.getOverview()).throughput).toHaveLength(4);
      await pool.query('DELETE FROM integration_consumer');
    });
  });

  describe('validation', () => {
    const id = '0190d2a4-0000-7000-8000-000000000000';
    const cases: Array<[string, () => Promise<unknown>, RegExp]> = [
      [
        'unknown filter key',
        () => admin.listDeliveries({ consumr: 'x' } as never),
        /did you mean 'consumer'/,
      ],
      [
        'status pending',
        () => admin.listDeliveries({ status: DeliveryStatus.Pending }),
        /pending and processed deliveries are not listed/,
      ],
      [
        'status processed (count)',
        () => admin.countDeliveries({ status: DeliveryStatus.Processed }),
        /filter.status must be one of/,
      ],
      [
        'aggregateId alone',
        () => admin.listEvents({ aggregateId: 'x' }),
        /needs filter.aggregateType/,
      ],
      [
        'from after to',
        () => admin.countEvents({ from: new Date(2), to: new Date(1) }),
        /must be after filter.from/,
      ],
      ['invalid date', () => admin.listEvents({ from: new Date('nope') }), /must be a valid Date/],
      [
        'date as string',
        () => admin.listEvents({ to: '2026-01-01' as never }),
        /must be a valid Date/,
      ],
      [
        'empty event name',
        () => admin.listEvents({ eventName: '' }),
        /filter.eventName must be 1 to 200/,
      ],
      [
        'page limit 0',
        () => admin.listDeliveries({}, { limit: 0 }),
        /page.limit must be an integer from 1 to 500/,
      ],
      ['page limit 501', () => admin.listEvents({}, { limit: 501 }), /page.limit/],
      [
        'bad cursor',
        () => admin.listDeliveries({}, { after: 'garbage' }),
        /page.after is not a cursor of this listing/,
      ],
      [
        'cursor of another listing',
        () =>
          admin.listEvents(
            {},
            { after: Buffer.from(JSON.stringify(['a', '1'])).toString('base64url') },
          ),
        /not a cursor of this listing/,
      ],
      [
        'unknown page key',
        () => admin.listAudit({ offset: 5 } as never),
        /page.offset is not a known key/,
      ],
      ['event id', () => admin.getEvent('nope'), /./],
      [
        'missing actor',
        () => admin.replayDelivery(id, 'billing', {} as never),
        /by.actor must be a string/,
      ],
      [
        'long actor',
        () => admin.replayEvent(id, { actor: 'x'.repeat(201) }),
        /by.actor must be 1 to 200/,
      ],
      [
        'discard without reason',
        () => admin.discardDelivery(id, 'billing', { actor: 'a' }),
        /by.reason must be a text.*records why/,
      ],
      [
        'blank reason',
        () => admin.discardDelivery(id, 'billing', { actor: 'a', reason: '  ' }),
        /by.reason/,
      ],
      [
        'consumer not text',
        () => admin.replayDelivery(id, 42 as never, { actor: 'a' }),
        /consumer must be a string/,
      ],
      [
        'bulk status key',
        () => admin.replayDeliveries({ status: 'dead_letter' } as never, { actor: 'a' }),
        /filter.status is not a known key/,
      ],
      [
        'bulk limit',
        () => admin.replayDeliveries({}, { actor: 'a', limit: 0 }),
        /options.limit must be an integer from 1 to 1000000/,
      ],
      [
        'bulk dryRun',
        () => admin.replayDeliveries({}, { actor: 'a', dryRun: 'yes' as never }),
        /options.dryRun must be a boolean/,
      ],
      ['bulk discard reason', () => admin.discardDeliveries({}, { actor: 'a' }), /options.reason/],
      [
        'purge without date',
        () => admin.purgeDeadLetters({} as never, { actor: 'a', reason: 'r' }),
        /filter.olderThan must be a valid Date/,
      ],
      [
        'purge without reason',
        () => admin.purgeDeadLetters({ olderThan: new Date() }, { actor: 'a' }),
        /options.reason/,
      ],
      [
        'purge filter key',
        () =>
          admin.purgeDeadLetters({ olderThan: new Date(), eventName: 'x' } as never, {
            actor: 'a',
            reason: 'r',
          }),
        /filter.eventName is not a known key/,
      ],
      [
        'overview minutes',
        () => admin.getOverview({ minutes: 1441 }),
        /options.minutes must be an integer from 1 to 1440/,
      ],
      [
        'unstorable reason',
        () => admin.discardDelivery(id, 'billing', { actor: 'a', reason: 'a\u0000b' }),
        /by.reason/,
      ],
    ];
    it.each(cases)('refuses %s with a typed error before any SQL', async (_name, call, message) => {
      const error = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(
        error instanceof InvalidEventIdError ? InvalidEventIdError : InvalidQueryError,
      );
      expect((error as Error).message).toMatch(message);
      expect(sent).toEqual([]);
    });
  });
});
