import {
  Injectable,
  Module,
  type MiddlewareConsumer,
  type NestMiddleware,
  type NestModule,
} from '@nestjs/common';
import { Pool } from 'pg';
import request from 'supertest';
import type { NextFunction, Request, Response } from 'express';
import {
  CrossTenantAccessError,
  DeliveryStatus,
  EventNotFoundError,
  InboxService,
  IntegrationAdminModule,
  IntegrationAdminService,
  IntegrationContext,
  IntegrationLinkService,
  InvalidInboxKeyError,
  InvalidQueryError,
  LinkType,
  type EntityRef,
} from '../../src/integration';
import { AdminOperations } from '../../src/integration/admin/admin-operations';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import { resolveTenant } from '../../src/integration/context/tenant-scope';
import { createIntegrationApp, type IntegrationTestApp } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { markAllSequenced } from '../support/sequenced';

/**
 * What a request-context middleware does (helper C's nestjs-cls integration, in the app): the
 * tenant of the request, from a header here, for everything the request calls.
 */
@Injectable()
class TenantHeaderMiddleware implements NestMiddleware {
  constructor(private readonly context: IntegrationContext) {}
  use(req: Request, _res: Response, next: NextFunction): void {
    const tenantId = req.headers['x-tenant-id'];
    if (typeof tenantId === 'string') this.context.run({ tenantId }, next);
    else next();
  }
}

@Module({ providers: [TenantHeaderMiddleware] })
class TenantHeaderModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(TenantHeaderMiddleware).forRoutes('*path');
  }
}

/**
 * Issue 16: every read and write API of the module is limited to the tenant of the call: an
 * explicit `tenantId`, else the tenant of `IntegrationContext`, else every tenant (or, for
 * links, links without a tenant). Asking for another tenant than the context's is refused.
 */
describe('tenant scope of the module APIs (issue 16)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let t: IntegrationTestApp;
  let admin: IntegrationAdminService;
  let context: IntegrationContext;
  let position = 0;
  const by = { actor: 'ops', reason: 'test' };

  /** One event of `tenant` with a dead letter per consumer; returns its id. */
  const seed = async (
    tenant: string | null,
    options: { consumers?: readonly string[]; correlationId?: string; status?: string } = {},
  ): Promise<string> => {
    const consumers = options.consumers ?? ['billing', 'mail', 'shipping'];
    const { rows } = await pool.query<{ id: string }>(
      `WITH ev AS (
         INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key,
                                   payload, headers, tenant_id, correlation_id, created_at)
         VALUES (gen_random_uuid(), 'order.placed', 'Order', '1', 'k', '{}', '{}', $1, $2,
                 now() - interval '1 hour')
         RETURNING id
       ), d AS (
         INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key, status,
                                           attempt_count, tenant_id)
         SELECT ev.id, c, $3::bigint + ordinality, 'k', $5, 3, $1
           FROM ev CROSS JOIN unnest($4::text[]) WITH ORDINALITY c
       )
       SELECT id::text AS id FROM ev`,
      [
        tenant,
        options.correlationId ?? null,
        position,
        consumers,
        options.status ?? DeliveryStatus.DeadLetter,
      ],
    );
    position += consumers.length;
    await markAllSequenced(pool);
    return rows[0]!.id;
  };
  const statuses = async (eventId: string): Promise<Record<string, string>> => {
    const { rows } = await pool.query<{ consumer_name: string; status: string }>(
      'SELECT consumer_name, status FROM integration_delivery WHERE event_id = $1',
      [eventId],
    );
    return Object.fromEntries(rows.map((r) => [r.consumer_name, r.status]));
  };
  const asTenant = <R>(tenantId: string | null, fn: () => Promise<R>): Promise<R> =>
    context.run({ tenantId }, fn);

  let a1: string;
  let a2: string;
  let b1: string;
  let b2: string;
  let none: string;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    t = await createIntegrationApp(db.url, {
      metadata: {
        imports: [
          IntegrationAdminModule.register({ guard: { canActivate: () => true } }),
          TenantHeaderModule,
        ],
      },
    });
    admin = t.app.get(IntegrationAdminService);
    context = t.app.get(IntegrationContext);
    a1 = await seed('A', { correlationId: 'corr' });
    a2 = await seed('A');
    b1 = await seed('B', { correlationId: 'corr' });
    b2 = await seed('B');
    none = await seed(null);
  });
  afterAll(async () => {
    await t.close();
    await pool.end();
    await db.drop();
  });

  it('resolves the tenant by one rule: explicit, else the context, else none; another tenant than the context is refused', () => {
    expect(resolveTenant('m', undefined, undefined)).toBeUndefined();
    expect(resolveTenant('m', undefined, null)).toBeUndefined();
    expect(resolveTenant('m', undefined, 'A')).toBe('A');
    expect(resolveTenant('m', 'B', undefined)).toBe('B');
    expect(resolveTenant('m', null, undefined)).toBeNull();
    expect(resolveTenant('m', 'A', 'A')).toBe('A');
    expect(() => resolveTenant('m', 'B', 'A')).toThrow(CrossTenantAccessError);
    expect(() => resolveTenant('m', null, 'A')).toThrow(/rows without a tenant/);
    const error = new CrossTenantAccessError('listEvents', 'A', 'B');
    expect(error).toMatchObject({
      operation: 'listEvents',
      contextTenant: 'A',
      requestedTenant: 'B',
    });
    expect(error.message).toMatch(/Omit tenantId to use the context's tenant/);
  });

  it("lists, counts and reads only the context tenant's events and deliveries", async () => {
    await asTenant('A', async () => {
      const events = await admin.listEvents();
      expect(events.items.map((e) => e.id).sort()).toEqual([a1, a2].sort());
      expect(await admin.countEvents()).toBe(2);
      expect(await admin.countEvents({ tenantId: 'A' })).toBe(2);
      const deliveries = await admin.listDeliveries();
      expect(new Set(deliveries.items.map((d) => d.tenantId))).toEqual(new Set(['A']));
      expect(await admin.countDeliveries()).toBe(6);
      expect(await admin.getEvent(b1)).toBeUndefined();
      expect(await admin.findEvent(b1)).toBeUndefined();
      const detail = await admin.getEvent(a1);
      expect(detail?.deliveries).toHaveLength(3);
      // b1 shares the correlation id but belongs to B: not correlated for A.
      expect(detail?.correlated).toEqual([]);
      expect((await admin.findEvent(a1))?.deliveries).toHaveLength(3);
    });
    // Outside any context: every tenant, and the correlation across tenants shows.
    expect(await admin.countEvents()).toBe(5);
    expect((await admin.getEvent(a1))?.correlated.map((e) => e.id)).toEqual([b1]);
    // A context with no tenant (an operator's code path inside a request) reaches every tenant.
    await asTenant('A', () =>
      asTenant(null, async () => expect(await admin.countEvents()).toBe(5)),
    );
    expect(await admin.findEvent(b1, { tenantId: 'B' })).toBeDefined();
    expect(await admin.findEvent(b1, { tenantId: 'A' })).toBeUndefined();
    expect(await admin.countEvents({ tenantId: null })).toBe(1);
    expect((await admin.getEvent(none, { tenantId: null }))?.event.id).toBe(none);
  });

  it("counts the call's tenant in getStats, getBacklog and getOverview; every tenant outside one", async () => {
    await pool.query(
      `INSERT INTO integration_consumer (name, patterns, pattern_regex)
       VALUES ('billing', '{order.*}', '.*'), ('mail', '{order.*}', '.*')`,
    );
    // One event of B not fanned out yet, and one minute of throughput (kept per consumer only).
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload,
                                 headers, tenant_id)
       VALUES (gen_random_uuid(), 'order.placed', 'Order', '9', 'k9', '{}', '{}', 'B') RETURNING id::text AS id`,
    );
    await pool.query(
      `INSERT INTO integration_consumer_stats (bucket, consumer_name, worker_id, processed, retried,
                                               dead_lettered, latency_ms_sum, latency_ms_max)
       VALUES (date_trunc('minute', now()), 'billing', 'w1', 7, 0, 0, 70, 10)`,
    );
    try {
      const deadLetters = (stats: {
        consumers: readonly { consumer: string; deadLetter: number }[];
      }) => Object.fromEntries(stats.consumers.map((c) => [c.consumer, c.deadLetter]));
      const backlogDeadLetters = (backlog: readonly { consumer: string; deadLetter: number }[]) =>
        Object.fromEntries(backlog.map((c) => [c.consumer, c.deadLetter]));

      await asTenant('A', async () => {
        const stats = await admin.getStats();
        // The seeded events count as fanned out (their deliveries exist); B's new one does not,
        // and it is not A's.
        expect(stats.unsequenced).toBe(0);
        expect(deadLetters(stats)).toEqual({ billing: 2, mail: 2, shipping: 2 });
        expect(backlogDeadLetters(await admin.getBacklog())).toEqual({ billing: 2, mail: 2 });
        const overview = await admin.getOverview({ minutes: 5 });
        expect(backlogDeadLetters(overview.backlog)).toEqual({ billing: 2, mail: 2 });
        expect(overview.throughput).toEqual([]);
        for (const call of [
          () => admin.getStats({ tenantId: 'B' }),
          () => admin.getBacklog({ tenantId: 'B' }),
          () => admin.getOverview({ tenantId: 'B' }),
        ]) {
          await expect(call()).rejects.toBeInstanceOf(CrossTenantAccessError);
        }
      });
      const b = await admin.getStats({ tenantId: 'B' });
      expect(b.unsequenced).toBe(1);
      expect(deadLetters(b)).toEqual({ billing: 2, mail: 2, shipping: 2 });
      expect(deadLetters(await admin.getStats({ tenantId: null }))).toEqual({
        billing: 1,
        mail: 1,
        shipping: 1,
      });
      expect(backlogDeadLetters(await admin.getBacklog({ tenantId: null }))).toEqual({
        billing: 1,
        mail: 1,
      });
      // Outside a tenant: every tenant's, with the throughput.
      const all = await admin.getStats();
      expect(all.unsequenced).toBe(1);
      expect(deadLetters(all)).toEqual({ billing: 5, mail: 5, shipping: 5 });
      const overview = await admin.getOverview({ minutes: 5 });
      expect(backlogDeadLetters(overview.backlog)).toEqual({ billing: 5, mail: 5 });
      expect(overview.throughput).toEqual([
        expect.objectContaining({ consumer: 'billing', processed: 7 }),
      ]);
      await expect(admin.getStats({ tenant: 'A' } as never)).rejects.toBeInstanceOf(
        InvalidQueryError,
      );

      const http = t.app.getHttpServer() as Parameters<typeof request>[0];
      const overB = await request(http).get('/admin/api/overview?tenantId=B').expect(200);
      const body = overB.body as {
        backlog: { consumer: string; deadLetter: number }[];
        throughput: unknown[];
      };
      expect(backlogDeadLetters(body.backlog)).toEqual({ billing: 2, mail: 2 });
      expect(body.throughput).toEqual([]);
      await request(http).get('/admin/api/overview?tenantId=B').set('x-tenant-id', 'A').expect(403);
    } finally {
      await pool.query('DELETE FROM outbox_event WHERE id = $1', [rows[0]!.id]);
      await pool.query('DELETE FROM integration_consumer_stats');
      await pool.query('DELETE FROM integration_consumer');
    }
  });

  it('refuses an explicit other tenant inside a tenant context with a typed error, before any SQL', async () => {
    const ref: EntityRef = { module: 'orders', entityType: 'Order', entityId: '1' };
    const links = t.app.get(IntegrationLinkService);
    const inbox = t.app.get(InboxService);
    await asTenant('A', async () => {
      const refused = [
        admin.listEvents({ tenantId: 'B' }),
        admin.countDeliveries({ tenantId: null }),
        admin.getEvent(b1, { tenantId: 'B' }),
        admin.findEvent(b1, { tenantId: 'B' }),
        admin.replayDelivery(b1, 'billing', by, { tenantId: 'B' }),
        admin.replayEvent(b1, by, { tenantId: 'B' }),
        admin.discardDelivery(b1, 'billing', by, { tenantId: 'B' }),
        admin.replayDeliveries({ tenantId: 'B' }, by),
        admin.discardDeliveries({ tenantId: 'B' }, by),
        admin.purgeDeadLetters({ olderThan: new Date(), tenantId: 'B' }, by),
        admin.listAudit(undefined, { tenantId: 'B' }),
        admin.replay(b1, { tenantId: 'B' }),
        admin.replayDeadLetters({ tenantId: 'B' }),
        admin.findEventsByAggregate('Order', '1', { tenantId: 'B' }),
        admin.purgeProcessed({ tenantId: 'B' }),
        links.findOutbound(ref, { tenantId: 'B' }),
        links.link(undefined, {
          source: ref,
          target: { ...ref, module: 'x' },
          linkType: 'reference',
          tenantId: 'B',
        }),
        links.unlink(undefined, { source: ref, target: ref, tenantId: 'B' }),
        inbox.findByEvent(b1, { tenantId: 'B' }),
        inbox.runOnce({ eventId: 'm-1', consumer: 'c', tenantId: 'B' }, async () => undefined),
      ];
      for (const call of refused) await expect(call).rejects.toThrow(CrossTenantAccessError);
    });
    expect(await statuses(b1)).toEqual({
      billing: 'dead_letter',
      mail: 'dead_letter',
      shipping: 'dead_letter',
    });
    // An invalid tenant option is refused as such.
    await expect(admin.getEvent(a1, { tenantId: 7 as unknown as string })).rejects.toThrow(
      InvalidQueryError,
    );
    await expect(
      admin.getEvent(a1, { tenant: 'A' } as unknown as { tenantId: string }),
    ).rejects.toThrow(/tenantId/);
    await expect(inbox.isProcessed('e', 'c', { tenantId: '' })).rejects.toThrow(
      InvalidInboxKeyError,
    );
  });

  it("cannot replay, discard or purge another tenant's deliveries; its own are changed and audited with the tenant", async () => {
    await asTenant('A', async () => {
      for (const call of [
        () => admin.replayDelivery(b1, 'billing', by),
        () => admin.replayEvent(b1, by),
        () => admin.discardDelivery(b1, 'billing', by),
        () => admin.replay(b1),
      ]) {
        await expect(call()).rejects.toThrow(EventNotFoundError);
      }
      expect((await admin.replayDelivery(a1, 'billing', by)).affected).toBe(1);
      expect((await admin.replayDeliveries({ consumer: 'billing' }, by)).affected).toBe(1);
      expect((await admin.discardDeliveries({ consumer: 'mail' }, by)).affected).toBe(2);
      const purged = await admin.purgeDeadLetters(
        { olderThan: new Date(Date.now() + 60_000), consumer: 'shipping' },
        by,
      );
      expect(purged.affected).toBe(2);
      const audit = await admin.listAudit();
      expect(audit.items).toHaveLength(4);
      expect(new Set(audit.items.map((a) => a.tenantId))).toEqual(new Set(['A']));
      expect(audit.items[0]!.target).toMatchObject({ tenantId: 'A' });
    });
    expect(await statuses(a1)).toEqual({ billing: 'pending', mail: 'skipped' });
    for (const b of [b1, b2]) {
      expect(await statuses(b)).toEqual({
        billing: 'dead_letter',
        mail: 'dead_letter',
        shipping: 'dead_letter',
      });
    }
    await asTenant('B', async () => {
      expect((await admin.listAudit()).items).toEqual([]);
      expect(await admin.replayDeadLetters({ consumer: 'billing' })).toBe(2);
      expect(await admin.replay(b1, { consumer: 'mail' })).toBe(1);
    });
    expect(await statuses(b1)).toMatchObject({ billing: 'pending', mail: 'pending' });
    expect(await statuses(a2)).toEqual({ billing: 'pending', mail: 'skipped' });
    // Outside a context every tenant's audit rows are listed; null: those of no tenant.
    expect((await admin.listAudit()).items).toHaveLength(4);
    expect((await admin.listAudit(undefined, { tenantId: null })).items).toEqual([]);
    expect((await admin.listAudit({ limit: 1 }, { tenantId: 'A' })).nextCursor).not.toBeNull();
  });

  it("purges only the context tenant's finished events", async () => {
    const finishedA = await seed('A', { status: DeliveryStatus.Processed });
    const finishedB = await seed('B', { status: DeliveryStatus.Processed });
    await pool.query(
      'UPDATE integration_sequencer SET horizon = pg_current_snapshot() WHERE id = 1',
    );
    expect(await asTenant('A', () => admin.purgeProcessed({ olderThanMs: 1_000 }))).toBe(1);
    const { rows } = await pool.query<{ id: string }>(
      'SELECT id::text AS id FROM outbox_event WHERE id = ANY($1::uuid[]) ORDER BY id',
      [[finishedA, finishedB]],
    );
    expect(rows.map((r) => r.id)).toEqual([finishedB]);
    expect(await admin.purgeProcessed({ olderThanMs: 1_000, tenantId: 'B' })).toBe(1);
  });

  it('finds an aggregate of the context tenant', async () => {
    const ids = await asTenant('B', async () =>
      (await admin.findEventsByAggregate('Order', '1')).map((e) => e.event.id),
    );
    expect(ids.sort()).toEqual([b1, b2].sort());
    expect((await admin.findEventsByAggregate('Order', '1')).map((e) => e.event.id)).toEqual([
      none,
    ]);
  });

  it("links and inbox marks take the context's tenant; another tenant's are invisible", async () => {
    const links = t.app.get(IntegrationLinkService);
    const inbox = t.app.get(InboxService);
    const order: EntityRef = { module: 'orders', entityType: 'Order', entityId: '9' };
    const invoice: EntityRef = { module: 'billing', entityType: 'Invoice', entityId: '9' };
    const linkA = await asTenant('A', () =>
      links.link(undefined, { source: order, target: invoice, linkType: LinkType.Reference }),
    );
    expect(linkA.tenantId).toBe('A');
    const linkB = await links.link(undefined, {
      source: order,
      target: invoice,
      linkType: LinkType.Reference,
      tenantId: 'B',
    });
    await asTenant('A', async () => {
      expect((await links.findOutbound(order)).map((l) => l.id)).toEqual([linkA.id]);
      expect((await links.findInbound(invoice)).map((l) => l.id)).toEqual([linkA.id]);
      expect((await links.findBetween(order, invoice)).map((l) => l.id)).toEqual([linkA.id]);
      expect((await links.findByType(LinkType.Reference)).map((l) => l.id)).toEqual([linkA.id]);
      expect(await links.unlink(undefined, { source: order, target: invoice })).toBe(1);
    });
    expect((await links.findOutbound(order, { tenantId: 'B' })).map((l) => l.id)).toEqual([
      linkB.id,
    ]);
    // Outside any context a link without a tenant is meant, as before.
    expect(await links.findOutbound(order)).toEqual([]);

    const ran = await asTenant('A', () =>
      inbox.runOnce({ eventId: 'msg-1', consumer: 'billing' }, async () => 'done'),
    );
    expect(ran).toEqual({ executed: true, result: 'done' });
    await asTenant('A', () => inbox.markSkipped('msg-2', 'billing', { reason: 'not mine' }));
    await asTenant('A', () =>
      expect(
        inbox.runOnce({ eventId: 'msg-3', consumer: 'billing' }, () =>
          Promise.reject(new Error('boom')),
        ),
      ).rejects.toThrow('boom'),
    );
    const { rows } = await pool.query<{ event_id: string; tenant_id: string | null }>(
      "SELECT event_id, tenant_id FROM inbox_event WHERE event_id LIKE 'msg-%' ORDER BY event_id",
    );
    expect(rows).toEqual([
      { event_id: 'msg-1', tenant_id: 'A' },
      { event_id: 'msg-2', tenant_id: 'A' },
      { event_id: 'msg-3', tenant_id: 'A' },
    ]);
    await asTenant('A', async () => {
      expect(await inbox.isProcessed('msg-1', 'billing')).toBe(true);
      expect(await inbox.getStatus('msg-2', 'billing')).toBe('skipped');
      expect(await inbox.findByEvent('msg-1')).toHaveLength(1);
    });
    await asTenant('B', async () => {
      expect(await inbox.isProcessed('msg-1', 'billing')).toBe(false);
      expect(await inbox.getStatus('msg-2', 'billing')).toBeUndefined();
      expect(await inbox.findByEvent('msg-1')).toEqual([]);
    });
    expect(await inbox.isProcessed('msg-1', 'billing')).toBe(true);
    expect(await inbox.findByEvent('msg-1', { tenantId: null })).toEqual([]);
    expect(await inbox.getStatus('msg-1', 'billing', { tenantId: 'A' })).toBe('processed');
  });

  it('AdminOperations without a context (the CLI) covers every tenant unless told one', async () => {
    const ops = new AdminOperations(
      {
        query: async <T>(text: string, params?: readonly unknown[]) => {
          const r = await pool.query(text, params as unknown[]);
          return { rows: r.rows as T[], rowCount: r.rowCount ?? 0 };
        },
      },
      { tables: new IntegrationTables() },
    );
    expect(await ops.countEvents()).toBeGreaterThan(await ops.countEvents({ tenantId: 'A' }));
    expect(await ops.getEvent(b1, { tenantId: 'A' })).toBeUndefined();
  });

  it('the admin HTTP API takes ?tenantId= and the request context: another tenant is 404 or 403', async () => {
    const http = t.app.getHttpServer() as Parameters<typeof request>[0];
    await request(http).get(`/admin/api/events/${b2}?tenantId=A`).expect(404);
    await request(http).get(`/admin/api/events/${b2}?tenantId=B`).expect(200);
    await request(http).get(`/admin/api/events/${none}?tenantId=`).expect(200);
    await request(http)
      .post(`/admin/api/events/${b2}/deliveries/mail/replay?tenantId=A`)
      .send({})
      .expect(404);
    await request(http)
      .post(`/admin/api/events/${b2}/deliveries/mail/discard?tenantId=A`)
      .send({ reason: 'r' })
      .expect(404);
    await request(http).post(`/admin/api/events/${b2}/replay?tenantId=A`).send({}).expect(404);
    expect(await statuses(b2)).toMatchObject({ mail: 'dead_letter', shipping: 'dead_letter' });
    const audit = await request(http).get('/admin/api/audit?tenantId=B').expect(200);
    expect((audit.body as { items: unknown[] }).items).toEqual([]);
    const purge = await request(http)
      .post('/admin/api/dead-letters/purge')
      .send({ olderThan: new Date(Date.now() + 60_000).toISOString(), tenantId: 'A', reason: 'r' })
      .expect(200);
    expect((purge.body as { affected: number }).affected).toBe(0);

    // Inside a request of tenant A: B's event is not found, asking for B is forbidden.
    const asA = (path: string) => request(http).get(path).set('x-tenant-id', 'A');
    await asA(`/admin/api/events/${b2}`).expect(404);
    await asA(`/admin/api/events/${a2}`).expect(200);
    const refused = await asA(`/admin/api/events?tenantId=B`).expect(403);
    expect((refused.body as { error: string }).error).toBe('CrossTenantAccessError');
    const listed = await asA('/admin/api/events').expect(200);
    expect(
      new Set((listed.body as { items: { tenantId: string }[] }).items.map((e) => e.tenantId)),
    ).toEqual(new Set(['A']));
  });
});
