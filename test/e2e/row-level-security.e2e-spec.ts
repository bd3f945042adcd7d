import { randomBytes } from 'node:crypto';
import { Client, Pool } from 'pg';
import {
  CrossTenantAccessError,
  DeliveryStatus,
  disableRowLevelSecurity,
  DomainEventPublisher,
  enableRowLevelSecurity,
  EventNotFoundError,
  IntegrationAdminService,
  IntegrationContext,
  IntegrationLinkService,
  InvalidSchemaNameError,
  LinkType,
  rowLevelSecuritySql,
  TENANT_POLICY,
  type EntityRef,
} from '../../src/integration';
import { TenantSession } from '../../src/integration/database/tenant-session';
import {
  createIntegrationApp,
  inTransaction,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { runCliInProcess } from '../support/cli-process';
import { markAllSequenced } from '../support/sequenced';

/** The module's tables that hold a tenant's rows (each under a policy). */
const TENANT_TABLES = [
  'outbox_event',
  'integration_delivery',
  'inbox_event',
  'integration_link',
  'integration_audit',
] as const;

/** PostgreSQL's "insufficient privilege", raised for a row the policy's WITH CHECK refuses. */
const RLS_VIOLATION = { code: '42501' };

/**
 * Acceptance 1 of issue 16: with row-level security on, a session of an application role
 * (LOGIN, no BYPASSRLS, not superuser) set for tenant A cannot read, change, delete or insert
 * tenant B's rows, even with handcrafted SQL, and neither can the module's APIs through it.
 * Runs on whatever server the run uses (embedded PostgreSQL 18, or DATABASE_URL, e.g. 15).
 */
describe('row-level security: tenant A cannot reach tenant B (issue 16, acceptance 1)', () => {
  let db: TestDatabase;
  let owner: Pool;
  const role = `ni_app_${randomBytes(6).toString('hex')}`;
  const password = randomBytes(12).toString('hex');
  let roleUrl: string;
  const ids: Record<'A' | 'B', string[]> = { A: [], B: [] };
  let position = 0;
  const order: EntityRef = { module: 'orders', entityType: 'Order', entityId: '1' };
  const invoice: EntityRef = { module: 'billing', entityType: 'Invoice', entityId: '1' };

  /** A connection as the app role, its session set to `tenant` (none: never set). */
  const connectAs = async (tenant?: string): Promise<Client> => {
    const client = new Client({ connectionString: roleUrl });
    await client.connect();
    if (tenant !== undefined) await client.query(`SET nestjs_integration.tenant_id = '${tenant}'`);
    return client;
  };
  /** Rows of `table` per tenant, read by the owner (superuser: bypasses the policies). */
  const countsByTenant = async (table: string): Promise<Record<string, number>> => {
    const { rows } = await owner.query<{ tenant: string; n: number }>(
      `SELECT coalesce(tenant_id, '-') AS tenant, count(*)::int AS n FROM ${table} GROUP BY 1`,
    );
    return Object.fromEntries(rows.map((r) => [r.tenant, r.n]));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    owner = new Pool({ connectionString: db.url, max: 2 });
    const client = await owner.connect();
    try {
      // Through the CLI, then again through the function: idempotent, the second run replaces
      // the policies.
      const cli = await runCliInProcess(['row-level-security', 'on', '--database-url', db.url]);
      expect(cli).toEqual({
        code: 0,
        stdout: 'Row-level security on for the tenant tables of schema "public"\n',
        stderr: '',
      });
      await enableRowLevelSecurity(client);
      await client.query(
        `CREATE ROLE ${role} LOGIN PASSWORD '${password}' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`,
      );
      // What an app needs: DML on the module's tables and their sequences; nothing more.
      await client.query(`GRANT CONNECT ON DATABASE "${db.name}" TO ${role}`);
      await client.query(`GRANT USAGE ON SCHEMA public TO ${role}`);
      await client.query(
        `GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${role}`,
      );
      await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    } finally {
      client.release();
    }
    const url = new URL(db.url);
    url.username = role;
    url.password = password;
    roleUrl = url.toString();

    // Seed, as the owner, one event per tenant with a dead letter per consumer, an inbox mark,
    // a link and an audit row.
    for (const tenant of ['A', 'B'] as const) {
      for (let i = 0; i < 2; i++) {
        const { rows } = await owner.query<{ id: string }>(
          `WITH ev AS (
             INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key,
                                       payload, headers, tenant_id)
             VALUES (gen_random_uuid(), 'order.placed', 'Order', $2, $2, '{}', '{}', $1)
             RETURNING id
           ), d AS (
             INSERT INTO integration_delivery (event_id, consumer_name, position, ordering_key,
                                               status, attempt_count, tenant_id, updated_at)
             SELECT ev.id, c, $3::bigint + ordinality, $2, 'dead_letter', 3, $1,
                    now() - interval '1 hour'
               FROM ev CROSS JOIN unnest(ARRAY['billing', 'mail']) WITH ORDINALITY c
           ), i AS (
             INSERT INTO inbox_event (event_id, consumer_name, status, attempt_count, tenant_id)
             SELECT ev.id::text, 'billing', 'processed', 1, $1 FROM ev
           )
           SELECT id::text AS id FROM ev`,
          [tenant, `${tenant}-${i}`, (position += 2)],
        );
        ids[tenant].push(rows[0]!.id);
      }
      await markAllSequenced(owner);
      await owner.query(
        `INSERT INTO integration_link (id, source_module, source_entity_type, source_entity_id,
                                       target_module, target_entity_type, target_entity_id,
                                       link_type, tenant_id)
         VALUES (gen_random_uuid(), 'orders', 'Order', '1', 'billing', 'Invoice', '1', 'reference', $1)`,
        [tenant],
      );
      await owner.query(
        `INSERT INTO integration_audit (action, actor, target, affected, tenant_id)
         VALUES ('replay', 'seed', '{}', 0, $1)`,
        [tenant],
      );
    }
  });

  afterAll(async () => {
    const off = await runCliInProcess([
      'row-level-security',
      'off',
      '--json',
      '--database-url',
      db.url,
    ]);
    expect(JSON.parse(off.stdout)).toEqual({ schema: 'public', rowLevelSecurity: false });
    const client = await owner.connect();
    try {
      // Idempotent too.
      await disableRowLevelSecurity(client);
      const { rows } = await client.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM pg_policy WHERE polname = $1',
        [TENANT_POLICY],
      );
      expect(rows[0]!.n).toBe(0);
      // Roles are cluster-wide: leave nothing behind.
      await client.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`,
        [role],
      );
      await client.query(`DROP OWNED BY ${role}`);
      await client.query(`DROP ROLE ${role}`);
    } finally {
      client.release();
    }
    await owner.end();
    await db.drop();
  });

  it('creates one policy per tenant table, forced, keyed on nestjs_integration.tenant_id', async () => {
    const { rows } = await owner.query<{ table: string; rls: boolean; force: boolean }>(
      `SELECT c.relname AS table, c.relrowsecurity AS rls, c.relforcerowsecurity AS force
         FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid
        WHERE p.polname = $1 AND c.relnamespace = 'public'::regnamespace ORDER BY 1`,
      [TENANT_POLICY],
    );
    expect(rows).toEqual(
      [...TENANT_TABLES].sort().map((table) => ({ table, rls: true, force: true })),
    );
    expect(rowLevelSecuritySql({ schema: 'tenancy', force: false })).toMatch(
      /ALTER TABLE "tenancy"."outbox_event" NO FORCE ROW LEVEL SECURITY/,
    );
    expect(() => rowLevelSecuritySql({ schema: 'Bad-Name' })).toThrow(InvalidSchemaNameError);
    // A failure rolls back: nothing half-applied, and the connection stays usable.
    const client = await owner.connect();
    try {
      await expect(enableRowLevelSecurity(client, { schema: 'no_such_schema' })).rejects.toThrow(
        /does not exist/,
      );
      expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
    } finally {
      client.release();
    }
    const sql = await runCliInProcess(['sql', '--row-level-security', '--schema', 'tenancy']);
    expect(sql.stdout).toContain(rowLevelSecuritySql({ schema: 'tenancy' }));
    const refused = await runCliInProcess(['status', '--row-level-security']);
    expect(refused.stderr).toMatch(/--row-level-security does not go with "status"/);
    const usage = await runCliInProcess(['row-level-security', 'maybe']);
    expect(usage).toMatchObject({ code: 2, stderr: expect.stringMatching(/needs on or off/) });
  });

  it("a session of tenant A reads none of B's rows, even with SELECT * FROM each table", async () => {
    const a = await connectAs('A');
    const none = await connectAs();
    try {
      const { rows: role } = await a.query<{ super: boolean; bypass: boolean }>(
        'SELECT rolsuper AS super, rolbypassrls AS bypass FROM pg_roles WHERE rolname = current_user',
      );
      expect(role).toEqual([{ super: false, bypass: false }]);
      for (const table of TENANT_TABLES) {
        const { rows } = await a.query<{ tenant_id: string | null }>(`SELECT * FROM ${table}`);
        expect(rows.length).toBeGreaterThan(0);
        expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set(['A']));
        const { rows: b } = await a.query(`SELECT * FROM ${table} WHERE tenant_id = 'B'`);
        expect(b).toEqual([]);
        // A session that never set the tenant sees nothing at all.
        const { rows: unset } = await none.query(`SELECT * FROM ${table}`);
        expect(unset).toEqual([]);
      }
      const { rows: byId } = await a.query('SELECT * FROM outbox_event WHERE id = $1', [ids.B[0]]);
      expect(byId).toEqual([]);
    } finally {
      await a.end();
      await none.end();
    }
  });

  it("a session of tenant A cannot replay, purge or rewrite B's rows by hand (0 rows) nor insert a row for B", async () => {
    const a = await connectAs('A');
    try {
      const replay = await a.query(
        `UPDATE integration_delivery SET status = 'pending', attempt_count = 0 WHERE tenant_id = 'B'`,
      );
      expect(replay.rowCount).toBe(0);
      const purge = await a.query(`DELETE FROM integration_delivery WHERE tenant_id = 'B'`);
      expect(purge.rowCount).toBe(0);
      for (const table of TENANT_TABLES) {
        expect((await a.query(`DELETE FROM ${table} WHERE tenant_id = 'B'`)).rowCount).toBe(0);
        expect(
          (await a.query(`UPDATE ${table} SET tenant_id = tenant_id WHERE tenant_id = 'B'`))
            .rowCount,
        ).toBe(0);
      }
      // Moving its own row to B breaks the WITH CHECK of the policy.
      await expect(
        a.query(`UPDATE integration_link SET tenant_id = 'B' WHERE tenant_id = 'A'`),
      ).rejects.toMatchObject(RLS_VIOLATION);
      await expect(
        a.query(
          `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key,
                                     payload, headers, tenant_id)
           VALUES (gen_random_uuid(), 'x', 'Order', '1', '1', '{}', '{}', 'B')`,
        ),
      ).rejects.toMatchObject(RLS_VIOLATION);
      await expect(
        a.query(
          `INSERT INTO integration_link (id, source_module, source_entity_type, source_entity_id,
                                         target_module, target_entity_type, target_entity_id, link_type, tenant_id)
           VALUES (gen_random_uuid(), 'm', 't', '1', 'n', 'u', '2', 'reference', 'B')`,
        ),
      ).rejects.toMatchObject(RLS_VIOLATION);
      await expect(
        a.query(
          `INSERT INTO inbox_event (event_id, consumer_name, status, tenant_id)
           VALUES ('x', 'billing', 'processed', 'B')`,
        ),
      ).rejects.toMatchObject(RLS_VIOLATION);
      await expect(
        a.query(
          `INSERT INTO integration_audit (action, actor, target, affected, tenant_id)
           VALUES ('replay', 'x', '{}', 0, 'B')`,
        ),
      ).rejects.toMatchObject(RLS_VIOLATION);
      // A row without a tenant is refused too.
      await expect(
        a.query(
          `INSERT INTO inbox_event (event_id, consumer_name, status) VALUES ('y', 'billing', 'processed')`,
        ),
      ).rejects.toMatchObject(RLS_VIOLATION);
    } finally {
      await a.end();
    }
    expect(await countsByTenant('integration_delivery')).toEqual({ A: 4, B: 4 });
    expect(await countsByTenant('outbox_event')).toEqual({ A: 2, B: 2 });
    const { rows } = await owner.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM integration_delivery WHERE tenant_id = 'B' AND status = 'dead_letter'`,
    );
    expect(rows[0]!.n).toBe(4);
  });

  describe('the module through the app role with rowLevelSecurity on', () => {
    let t: IntegrationTestApp;
    let context: IntegrationContext;
    const by = { actor: 'ops', reason: 'rls test' };

    beforeAll(async () => {
      t = await createIntegrationApp(roleUrl, { integration: { rowLevelSecurity: true } });
      context = t.app.get(IntegrationContext);
    });
    afterAll(async () => {
      await t.close();
    });

    it("sets the tenant for its own statements: the module's executor sees only A, even with SELECT *", async () => {
      const session = new TenantSession(t.orm.adapter, true);
      const { rows } = await session
        .executor('A')
        .query<{ tenant_id: string }>('SELECT tenant_id FROM outbox_event');
      expect(new Set(rows.map((r) => r.tenant_id))).toEqual(new Set(['A']));
      // Off, or without a tenant, the root client is used as it is: no setting, no row.
      expect(new TenantSession(t.orm.adapter, false).executor('A')).toBe(t.orm.adapter.root);
      expect((await session.executor(undefined).query('SELECT 1 FROM outbox_event')).rows).toEqual(
        [],
      );
      // Admin calls outside a tenant context set nothing: the app role then sees nothing.
      expect(await t.app.get(IntegrationAdminService).countEvents()).toBe(0);
    });

    it("admin replay and purge in tenant A's context change A's rows only; B's event is not found", async () => {
      const admin = t.app.get(IntegrationAdminService);
      await context.run({ tenantId: 'A' }, async () => {
        expect(await admin.countEvents()).toBe(2);
        await expect(admin.replayDelivery(ids.B[0]!, 'billing', by)).rejects.toThrow(
          EventNotFoundError,
        );
        await expect(admin.getEvent(ids.B[0]!)).resolves.toBeUndefined();
        await expect(admin.replayDeliveries({ tenantId: 'B' }, by)).rejects.toThrow(
          CrossTenantAccessError,
        );
        expect((await admin.replayDelivery(ids.A[0]!, 'billing', by)).affected).toBe(1);
        expect((await admin.replayDeliveries({ consumer: 'billing' }, by)).affected).toBe(1);
        expect(await admin.replayDeadLetters({ consumer: 'mail', eventId: ids.A[0] })).toBe(1);
        const purged = await admin.purgeDeadLetters(
          { olderThan: new Date(Date.now() + 60_000) },
          by,
        );
        expect(purged.affected).toBe(1);
        expect((await admin.listAudit()).items.map((a) => a.tenantId)).toEqual([
          'A',
          'A',
          'A',
          'A',
        ]);
      });
      const { rows } = await owner.query<{ tenant_id: string; status: string; n: number }>(
        `SELECT tenant_id, status, count(*)::int AS n FROM integration_delivery
          GROUP BY 1, 2 ORDER BY 1, 2`,
      );
      expect(rows).toEqual([
        { tenant_id: 'A', status: DeliveryStatus.Pending, n: 3 },
        { tenant_id: 'B', status: DeliveryStatus.DeadLetter, n: 4 },
      ]);
    });

    it("the link service in tenant A's context reads and removes A's links only", async () => {
      const links = t.app.get(IntegrationLinkService);
      await context.run({ tenantId: 'A' }, async () => {
        const found = await links.findOutbound(order);
        expect(found.map((l) => l.tenantId)).toEqual(['A']);
        await expect(links.findOutbound(order, { tenantId: 'B' })).rejects.toThrow(
          CrossTenantAccessError,
        );
        const created = await inTransaction(t.orm, (tx) =>
          links.link(tx, { source: invoice, target: order, linkType: LinkType.Cascade }),
        );
        expect(created.tenantId).toBe('A');
        expect(await links.unlink(undefined, { source: order, target: invoice })).toBe(1);
      });
      expect(await countsByTenant('integration_link')).toEqual({ A: 1, B: 1 });
    });

    it("publishing in tenant A's context sets the tenant in the caller's transaction: A's event commits, B's is refused", async () => {
      const publisher = t.app.get(DomainEventPublisher);
      const event = { name: 'order.paid', aggregateType: 'Order', aggregateId: '7', payload: {} };
      const id = await context.run({ tenantId: 'A' }, () =>
        inTransaction(t.orm, (tx) => publisher.publish(tx, { ...event, tenantId: 'A' })),
      );
      const { rows } = await owner.query<{ tenant_id: string }>(
        'SELECT tenant_id FROM outbox_event WHERE id = $1',
        [id],
      );
      expect(rows).toEqual([{ tenant_id: 'A' }]);
      await expect(
        context.run({ tenantId: 'A' }, () =>
          inTransaction(t.orm, (tx) => publisher.publish(tx, { ...event, tenantId: 'B' })),
        ),
      ).rejects.toMatchObject(RLS_VIOLATION);
      expect(await countsByTenant('outbox_event')).toEqual({ A: 3, B: 2 });
      // publishAndCommit sends its INSERT with the COMMIT: the tenant is set before it too.
      const client = await t.orm.pool!.connect();
      try {
        await client.query('BEGIN');
        await context.run({ tenantId: 'A' }, () =>
          publisher.publishAndCommit(client, { ...event, tenantId: 'A' }),
        );
      } finally {
        client.release();
      }
      expect(await countsByTenant('outbox_event')).toEqual({ A: 4, B: 2 });
      // An idempotency key already stored: after the COMMIT the stored event's id is read back,
      // through a session of the context's tenant (the app role's own reads see no row without).
      const keyed = { ...event, tenantId: 'A', idempotencyKey: 'paid-7' };
      const publishKeyed = async (): Promise<string | null> => {
        const c = await t.orm.pool!.connect();
        try {
          await c.query('BEGIN');
          return await context.run({ tenantId: 'A' }, () => publisher.publishAndCommit(c, keyed));
        } finally {
          c.release();
        }
      };
      const first = await publishKeyed();
      expect(first).toEqual(expect.any(String));
      expect(await publishKeyed()).toBe(first);
      expect(await countsByTenant('outbox_event')).toEqual({ A: 5, B: 2 });
    });
  });

  it.each(['prisma', 'knex'] as const)(
    'the tenant is set through the %s adapter too: own statements, links and the publish INSERT',
    async (orm) => {
      const t = await createIntegrationApp(roleUrl, {
        orm,
        integration: { rowLevelSecurity: true },
      });
      try {
        const context = t.app.get(IntegrationContext);
        const session = new TenantSession(t.orm.adapter, true);
        const { rows } = await session
          .executor('B')
          .query<{ tenant_id: string }>('SELECT DISTINCT tenant_id FROM outbox_event');
        expect(rows).toEqual([{ tenant_id: 'B' }]);
        const links = t.app.get(IntegrationLinkService);
        const found = await context.run({ tenantId: 'B' }, () =>
          inTransaction(t.orm, (tx) => links.findOutbound(order, { tx })),
        );
        expect(found.map((l) => l.tenantId)).toEqual(['B']);
        const before = (await countsByTenant('outbox_event')).B!;
        const publisher = t.app.get(DomainEventPublisher);
        await context.run({ tenantId: 'B' }, () =>
          inTransaction(t.orm, (tx) =>
            publisher.publish(tx, {
              name: 'order.paid',
              aggregateType: 'Order',
              aggregateId: orm,
              payload: {},
              tenantId: 'B',
            }),
          ),
        );
        expect((await countsByTenant('outbox_event')).B).toBe(before + 1);
      } finally {
        await t.close();
      }
    },
  );
});
