import { Controller, Module, Post, type MiddlewareConsumer, type NestModule } from '@nestjs/common';
import { ClsModule, ClsService } from 'nestjs-cls';
import request from 'supertest';
import { Pool } from 'pg';
import {
  DomainEventPublisher,
  INTEGRATION_CONTEXT_CLS_KEY,
  IntegrationContext,
  InvalidEventError,
  InvalidIntegrationOptionsError,
  integrationContextMiddleware,
  type EnrichMetaHook,
  type PublishEventInput,
  type ShouldEnqueueHook,
} from '../../src/integration';
import {
  createIntegrationApp,
  inTransaction,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const event = (over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'vault.opened',
  aggregateType: 'Vault',
  aggregateId: 'v-1',
  payload: null,
  ...over,
});

interface StoredRow {
  id: string;
  event_name: string;
  tenant_id: string | null;
  correlation_id: string | null;
  causation_id: string | null;
  headers: Record<string, string>;
}

/** An endpoint that publishes one event with no ids of its own. */
@Controller('things')
class ThingsController {
  constructor(private readonly publisher: DomainEventPublisher) {}

  @Post()
  async create(): Promise<{ id: string | null }> {
    return { id: await this.publisher.publishStandalone(event()) };
  }
}

/** The module's own middleware (no nestjs-cls) on every route. */
@Module({ controllers: [ThingsController] })
class ThingsHttpModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    consumer
      .apply(integrationContextMiddleware({ generateCorrelationId: () => 'generated-1' }))
      .forRoutes('*');
  }
}

describe('publish hooks and context defaults', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  const stored = async (): Promise<StoredRow[]> =>
    (
      await pool.query<StoredRow>(
        `SELECT id::text, event_name, tenant_id, correlation_id, causation_id, headers
           FROM outbox_event ORDER BY seq`,
      )
    ).rows;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
    await pool.query('TRUNCATE outbox_event CASCADE');
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const boot = async (
    outbox: { shouldEnqueue?: ShouldEnqueueHook; enrichMeta?: EnrichMetaHook } = {},
    extra: Parameters<typeof createIntegrationApp>[1] = {},
  ) => {
    const t = await createIntegrationApp(db.url, {
      ...extra,
      integration: { outbox, ...extra.integration },
    });
    apps.push(t);
    return t;
  };

  it('shouldEnqueue returning false writes nothing; the dropped id is null', async () => {
    const asked: { name: string; tenantId: string | null | undefined }[] = [];
    const t = await boot({
      shouldEnqueue: async (e, context) => {
        asked.push({ name: e.name, tenantId: context.tenantId });
        return e.name !== 'vault.audited';
      },
    });
    const publisher = t.app.get(DomainEventPublisher);
    const ids = await t.app
      .get(IntegrationContext)
      .run({ tenantId: 'acme' }, () =>
        inTransaction(t.orm, (tx) =>
          publisher.publishMany(tx, [event(), event({ name: 'vault.audited' }), event()]),
        ),
      );
    expect(ids[1]).toBeNull();
    expect(asked).toEqual([
      { name: 'vault.opened', tenantId: 'acme' },
      { name: 'vault.audited', tenantId: 'acme' },
      { name: 'vault.opened', tenantId: 'acme' },
    ]);
    expect(await publisher.publishStandalone(event({ name: 'vault.audited' }))).toBeNull();
    const rows = await stored();
    expect(rows.map((r) => r.id)).toEqual([ids[0], ids[2]]);
    expect(rows.map((r) => r.event_name)).toEqual(['vault.opened', 'vault.opened']);
  });

  it('shouldEnqueue applies to publishAndCommit too: the kept events commit, dropped ones are null', async () => {
    const t = await boot({ shouldEnqueue: (e) => e.name !== 'vault.audited' });
    const publisher = t.app.get(DomainEventPublisher);
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      const ids = await publisher.publishManyAndCommit(client, [
        event({ name: 'vault.audited' }),
        event(),
      ]);
      expect(ids[0]).toBeNull();
      // Everything dropped: the transaction still commits.
      await pool.query('CREATE TABLE IF NOT EXISTS hook_probe (id int)');
      await client.query('BEGIN');
      await client.query('INSERT INTO hook_probe VALUES (1)');
      expect(await publisher.publishAndCommit(client, event({ name: 'vault.audited' }))).toBeNull();
      // Seen from another connection: committed.
      expect((await pool.query('SELECT id FROM hook_probe')).rows).toEqual([{ id: 1 }]);
      expect((await stored()).map((r) => r.id)).toEqual([ids[1]]);
    } finally {
      client.release();
    }
  });

  it('a throwing or non-boolean shouldEnqueue reaches the caller before anything is written', async () => {
    const t = await boot({ shouldEnqueue: () => 'yes' as unknown as boolean });
    const publisher = t.app.get(DomainEventPublisher);
    await expect(publisher.publishStandalone(event())).rejects.toThrow(InvalidEventError);
    expect(await stored()).toEqual([]);
  });

  it("enrichMeta's headers land in the event; the caller's own headers win", async () => {
    const t = await boot({
      enrichMeta: (e, context) => ({
        origin: 'api',
        tenantSeen: context.tenantId ?? 'none',
        aggregate: e.aggregateId,
      }),
    });
    const publisher = t.app.get(DomainEventPublisher);
    await publisher.publishStandalone(event({ headers: { origin: 'caller' } }));
    await t.app
      .get(IntegrationContext)
      .run({ tenantId: 't-9' }, () => publisher.publishStandalone(event({ aggregateId: 'v-2' })));
    expect((await stored()).map((r) => r.headers)).toEqual([
      { origin: 'caller', tenantSeen: 'none', aggregate: 'v-1' },
      { origin: 'api', tenantSeen: 't-9', aggregate: 'v-2' },
    ]);
  });

  it('refuses enrichMeta values that are not strings, naming the hook', async () => {
    const t = await boot({ enrichMeta: () => ({ n: 1 }) as unknown as Record<string, string> });
    await expect(t.app.get(DomainEventPublisher).publishStandalone(event())).rejects.toThrow(
      /outbox\.enrichMeta must return string values/,
    );
    expect(await stored()).toEqual([]);
  });

  it('takes tenant, correlation, causation and actor from the context when the caller did not', async () => {
    const t = await boot();
    const publisher = t.app.get(DomainEventPublisher);
    await t.app
      .get(IntegrationContext)
      .run({ tenantId: 'acme', correlationId: 'req-1', causationId: 'cmd-1', actor: 'bob' }, () =>
        inTransaction(t.orm, (tx) =>
          publisher.publishMany(tx, [
            event(),
            event({
              tenantId: 'other',
              correlationId: 'mine',
              causationId: 'cause',
              headers: { actor: 'alice' },
            }),
          ]),
        ),
      );
    const [fromContext, explicit] = await stored();
    expect(fromContext).toMatchObject({
      tenant_id: 'acme',
      correlation_id: 'req-1',
      causation_id: 'cmd-1',
      headers: { actor: 'bob', correlationId: 'req-1', causationId: 'cmd-1' },
    });
    expect(explicit).toMatchObject({
      tenant_id: 'other',
      correlation_id: 'mine',
      causation_id: 'cause',
      headers: { actor: 'alice' },
    });
  });

  it('validates context values like the caller’s own', async () => {
    const t = await boot();
    await expect(
      t.app
        .get(IntegrationContext)
        .run({ correlationId: 'x'.repeat(201) }, () =>
          t.app.get(DomainEventPublisher).publishStandalone(event()),
        ),
    ).rejects.toThrow(/correlationId must be at most 200 characters/);
  });

  it('with context.cls, reads and writes the context through nestjs-cls', async () => {
    const t = await boot(
      {},
      {
        integration: { context: { cls: true } },
        metadata: { imports: [ClsModule.forRoot({ global: true })] },
      },
    );
    const cls = t.app.get(ClsService);
    const context = t.app.get(IntegrationContext);
    await cls.run(async () => {
      // What the app's CLS middleware sets is what the module sees…
      cls.set(INTEGRATION_CONTEXT_CLS_KEY, { tenantId: 'from-cls', correlationId: 'c-cls' });
      expect(context.current()).toEqual({ tenantId: 'from-cls', correlationId: 'c-cls' });
      await t.app.get(DomainEventPublisher).publishStandalone(event());
      // …and a nested run is seen inside only.
      await context.run({ actor: 'eve' }, async () => {
        expect(cls.get(INTEGRATION_CONTEXT_CLS_KEY)).toEqual({
          tenantId: 'from-cls',
          correlationId: 'c-cls',
          actor: 'eve',
        });
      });
      expect(context.current()).toEqual({ tenantId: 'from-cls', correlationId: 'c-cls' });
    });
    expect(context.current()).toEqual({});
    expect(await stored()).toMatchObject([{ tenant_id: 'from-cls', correlation_id: 'c-cls' }]);
  });

  it('integrationContextMiddleware runs each request in the context of its headers', async () => {
    const t = await boot({}, { metadata: { imports: [ThingsHttpModule] } });
    const http = () => request(t.app.getHttpServer());
    const given = await http()
      .post('/things')
      .set('X-Correlation-Id', 'req-7')
      .set('X-Tenant-Id', 'acme')
      .expect(201);
    expect(given.headers['x-correlation-id']).toBe('req-7');
    const generated = await http().post('/things').expect(201);
    expect(generated.headers['x-correlation-id']).toBe('generated-1');
    await http().post('/things').set('X-Tenant-Id', ' ').expect(201);
    await http().post('/things').set('X-Tenant-Id', 'x'.repeat(201)).expect(400);
    expect(
      (await stored()).map((r) => ({
        id: r.id,
        tenant: r.tenant_id,
        correlation: r.correlation_id,
      })),
    ).toEqual([
      { id: given.body.id, tenant: 'acme', correlation: 'req-7' },
      { id: generated.body.id, tenant: null, correlation: 'generated-1' },
      { id: expect.any(String), tenant: null, correlation: 'generated-1' },
    ]);
  });

  it('refuses invalid context and hook options at start-up', async () => {
    await expect(
      boot(
        { shouldEnqueue: true as unknown as ShouldEnqueueHook },
        {
          integration: {
            context: {
              cls: 'yes' as unknown as boolean,
              transactional: { connection: 'x' } as never,
            },
          },
        },
      ),
    ).rejects.toThrow(InvalidIntegrationOptionsError);
    await expect(
      boot({}, { integration: { context: { cls: false, transactional: true } } }),
    ).rejects.toThrow(/context\.cls cannot be false with context\.transactional/);
  });
});
