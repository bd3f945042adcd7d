import { Injectable, type Provider } from '@nestjs/common';
import { Client, Pool } from 'pg';
import {
  DeliveryStatus,
  DomainEventPublisher,
  InboxService,
  InboxStatus,
  IntegrationAdminService,
  IntegrationConsumer,
  IntegrationLinkService,
  IntegrationSchemaMissingError,
  InvalidIntegrationOptionsError,
  integrationTablesSql,
  JitterMode,
  LinkType,
  OnIntegrationEvent,
  pgAdapter,
  type HandlerContext,
  type IntegrationEvent,
  type PublishEventInput,
} from '../../src/integration';
import { drainUntilIdle } from '../../src/integration/testing';
import {
  createIntegrationApp,
  createOrm,
  inTransaction,
  publishAll,
  type IntegrationTestApp,
  type OrmKind,
} from '../support/integration-app';
import { execIn } from '../support/orm-sql';
import { MODULE_TABLES } from '../support/schema-drift';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/** Every table of the module: what the bootstrap schema check names when they are missing. */
const TABLES = MODULE_TABLES;

/**
 * Creates the module's tables in each of `schemas` (the package's SQL for that schema), then
 * drops the `public` ones: a statement that names a table unqualified fails.
 */
async function moveTablesTo(url: string, schemas: readonly string[]): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    for (const schema of schemas) await client.query(integrationTablesSql({ schema }));
    await client.query(`DROP TABLE ${TABLES.map((t) => `public.${t}`).join(', ')}`);
    await client.query(
      'CREATE TABLE public.schema_effect (label text NOT NULL, event_id text NOT NULL)',
    );
  } finally {
    await client.end();
  }
}

/** Per-app switches the consumer reads (no process-global state). */
class Behaviour {
  constructor(readonly label: string) {}
  readonly failOnce = new Set<string>();
  readonly failAlways = new Set<string>();
}

function consumerFor(kind: OrmKind, behaviour: Behaviour): Provider[] {
  @Injectable()
  @IntegrationConsumer('schema-audit')
  class SchemaConsumer {
    constructor(readonly behaviour: Behaviour) {}

    @OnIntegrationEvent('thing.*')
    async handle(event: IntegrationEvent, ctx: HandlerContext) {
      if (this.behaviour.failAlways.has(event.aggregateId)) throw new Error('always fails');
      if (this.behaviour.failOnce.delete(event.aggregateId)) throw new Error('fails once');
      await execIn(kind, ctx.tx, 'insert into public.schema_effect values ($1, $2)', [
        this.behaviour.label,
        event.id,
      ]);
      await ctx.links.link({
        source: { module: 'audit', entityType: 'Entry', entityId: event.id },
        target: { module: 'things', entityType: 'Thing', entityId: event.aggregateId },
        linkType: LinkType.Reference,
      });
    }
  }
  return [{ provide: Behaviour, useValue: behaviour }, SchemaConsumer];
}

const thing = (aggregateId: string, over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'thing.happened',
  aggregateType: 'Thing',
  aggregateId,
  payload: { aggregateId },
  ...over,
});

const RETRY = { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0, jitter: JitterMode.None };

async function rows<T>(url: string, sql: string): Promise<T[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

describe.each<OrmKind>(['prisma', 'knex', 'pg'])(
  'tables in a schema the user names, with %s (issue 12: schema)',
  (kind) => {
    let db: TestDatabase;
    let t: IntegrationTestApp;
    const behaviour = new Behaviour(kind);

    beforeAll(async () => {
      db = await createTestDatabase();
      await moveTablesTo(db.url, ['integration']);
      t = await createIntegrationApp(db.url, {
        orm: kind,
        integration: { schema: 'integration', processor: { retry: RETRY } },
        metadata: { providers: consumerFor(kind, behaviour) },
      });
    });
    afterAll(async () => {
      await t?.close();
      await db?.drop();
    });

    it(`publishes, claims, settles, retries, dead-letters, replays and purges in schema "integration" with ${kind} (issue 12: schema)`, async () => {
      const publisher = t.app.get(DomainEventPublisher);
      const admin = t.app.get(IntegrationAdminService);
      behaviour.failOnce.add('retried');
      behaviour.failAlways.add('dead');

      const [ok, retried, dead] = await publishAll(t, [
        thing('ok', { idempotencyKey: 'k-1' }),
        thing('retried'),
        thing('dead'),
      ]);
      // The same idempotency key again: the stored event's id comes back (the lookup statement).
      const again = await inTransaction(t.orm, (tx) =>
        publisher.publish(tx, thing('ok', { idempotencyKey: 'k-1' })),
      );
      expect(again).toBe(ok);
      const standalone = await publisher.publishStandalone(thing('standalone'));
      const ids = [ok!, retried!, dead!, standalone!];
      if (kind === 'pg') {
        const client = await t.orm.pool!.connect();
        try {
          await client.query('BEGIN');
          ids.push((await publisher.publishAndCommit(client, thing('committed')))!);
        } finally {
          client.release();
        }
      }

      await drainUntilIdle(t.app);

      const outbox = await rows<{ id: string }>(
        db.url,
        'select id::text from integration.outbox_event order by seq',
      );
      expect(outbox.map((r) => r.id)).toEqual(ids);
      const deliveries = await rows<{ id: string; consumer_name: string; status: string }>(
        db.url,
        'select event_id::text as id, consumer_name, status from integration.integration_delivery order by position',
      );
      expect(deliveries).toEqual(
        ids.map((id) => ({
          id,
          consumer_name: 'schema-audit',
          status: id === dead ? DeliveryStatus.DeadLetter : DeliveryStatus.Processed,
        })),
      );
      expect((await admin.findEvent(retried!))?.deliveries).toEqual([
        expect.objectContaining({
          consumer: 'schema-audit',
          status: DeliveryStatus.Processed,
          attemptCount: 2,
        }),
      ]);
      expect(await admin.getStats()).toMatchObject({
        unsequenced: 0,
        consumers: [{ consumer: 'schema-audit', processed: ids.length - 1, deadLetter: 1 }],
      });
      const byAggregate = await admin.findEventsByAggregate('Thing', 'dead');
      expect(byAggregate.map((e) => [e.event.id, e.deliveries.map((d) => d.status)])).toEqual([
        [dead, [DeliveryStatus.DeadLetter]],
      ]);

      // The delivery row is the exactly-once mark of outbox events: no inbox row is written.
      expect(await t.app.get(InboxService).findByEvent(retried!)).toEqual([]);
      // Links were written in the schema too, by the handler through ctx.tx.
      const links = await t.app
        .get(IntegrationLinkService)
        .findInbound({ module: 'things', entityType: 'Thing', entityId: 'retried' });
      expect(links.map((l) => l.source.entityId)).toEqual([retried]);
      expect(
        await rows(db.url, 'select count(*)::int as n from integration.integration_link'),
      ).toEqual([{ n: ids.length - 1 }]);

      // Replay the dead letter once it can succeed.
      behaviour.failAlways.clear();
      expect(await admin.replay(dead!)).toBe(1);
      await drainUntilIdle(t.app);
      expect((await admin.findEvent(dead!))?.deliveries.map((d) => d.status)).toEqual([
        DeliveryStatus.Processed,
      ]);
      expect(await admin.replayDeadLetters()).toBe(0);

      expect(await rows(db.url, 'select count(*)::int as n from public.schema_effect')).toEqual([
        { n: ids.length },
      ]);
      expect(await admin.purgeProcessed({ olderThanMs: 0 })).toBe(ids.length);
      expect(
        await rows(
          db.url,
          'select (select count(*) from integration.outbox_event)::int as events, (select count(*) from integration.integration_delivery)::int as deliveries',
        ),
      ).toEqual([{ events: 0, deliveries: 0 }]);
    });

    it(`runs runOnce and writes links in schema "integration" with ${kind} (issue 12: schema)`, async () => {
      const inbox = t.app.get(InboxService);
      const key = { eventId: `external-${kind}`, consumer: 'webhooks' };
      const first = await inbox.runOnce(key, (tx) =>
        execIn(kind, tx, 'insert into public.schema_effect values ($1, $2)', ['runOnce', kind]),
      );
      const second = await inbox.runOnce(key, () => Promise.reject(new Error('never runs')));
      expect([first.executed, second.executed]).toEqual([true, false]);
      await expect(
        inbox.runOnce({ eventId: `failing-${kind}`, consumer: 'webhooks' }, () =>
          Promise.reject(new Error('webhook failed')),
        ),
      ).rejects.toThrow('webhook failed');
      expect(await inbox.getStatus(`failing-${kind}`, 'webhooks')).toBe(InboxStatus.Failed);
      expect(await inbox.markSkipped(`skipped-${kind}`, 'webhooks', 'not ours')).toBe(true);
      expect(
        await rows(
          db.url,
          `select event_id, status from integration.inbox_event where consumer_name = 'webhooks' order by event_id`,
        ),
      ).toEqual([
        { event_id: `external-${kind}`, status: 'processed' },
        { event_id: `failing-${kind}`, status: 'failed' },
        { event_id: `skipped-${kind}`, status: 'skipped' },
      ]);

      const links = t.app.get(IntegrationLinkService);
      const source = { module: 'billing', entityType: 'Invoice', entityId: kind };
      const target = { module: 'vault', entityType: 'Vault', entityId: kind };
      const created = await links.link(undefined, { source, target, linkType: LinkType.Cascade });
      const repeated = await links.link(undefined, { source, target, linkType: LinkType.Cascade });
      expect(repeated.id).toBe(created.id);
      expect((await links.findOutbound(source)).map((l) => l.id)).toEqual([created.id]);
      expect((await links.findBetween(target, source)).map((l) => l.id)).toEqual([created.id]);
      expect((await links.findByType(LinkType.Cascade)).map((l) => l.target.entityId)).toEqual([
        kind,
      ]);
      expect(await links.unlink(undefined, { source, target })).toBe(1);
    });
  },
);

describe('schema check and refusals for the schema option (issue 12: schema)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
    await moveTablesTo(db.url, ['integration']);
  });
  afterAll(async () => {
    await db?.drop();
  });

  /** Boots on an ORM of its own and expects the boot to fail; returns the error. */
  const failedBoot = async (kind: OrmKind, schema?: string): Promise<unknown> => {
    const orm = createOrm(kind, db.url);
    try {
      return await createIntegrationApp(db.url, {
        orm: kind,
        integration: { database: orm.adapter, ...(schema === undefined ? {} : { schema }) },
      }).then(
        async (booted) => {
          await booted.close();
          throw new Error(`booted with schema ${schema}`);
        },
        (error: unknown) => error,
      );
    } finally {
      await orm.close();
    }
  };

  it('checks the tables in the configured schema and names it in IntegrationSchemaMissingError (issue 12: schema)', async () => {
    // The tables are in "integration" only: the default schema is refused, naming public.
    const error = (await failedBoot('pg')) as IntegrationSchemaMissingError;
    expect(error).toBeInstanceOf(IntegrationSchemaMissingError);
    expect(error.schema).toBe('public');
    expect(error.missingTables).toEqual([...TABLES]);
    expect(error.message).toContain('looked up in schema "public"');
    expect(error.message).toContain('set `schema` to it');

    // A schema that does not exist at all: every table missing, that schema named.
    const missing = (await failedBoot('pg', 'nowhere')) as IntegrationSchemaMissingError;
    expect(missing).toBeInstanceOf(IntegrationSchemaMissingError);
    expect([missing.schema, missing.missingTables]).toEqual(['nowhere', [...TABLES]]);

    // A column missing in the configured schema is named as table.column.
    await rows(db.url, 'alter table integration.integration_link drop column metadata');
    try {
      const columns = (await failedBoot('knex', 'integration')) as IntegrationSchemaMissingError;
      expect(columns).toBeInstanceOf(IntegrationSchemaMissingError);
      expect([columns.schema, columns.missingTables, columns.missingColumns]).toEqual([
        'integration',
        [],
        ['integration_link.metadata'],
      ]);
    } finally {
      await rows(
        db.url,
        `alter table integration.integration_link add column metadata jsonb not null default '{}'`,
      );
    }
    const booted = await createIntegrationApp(db.url, {
      orm: 'prisma',
      integration: { schema: 'integration' },
    });
    await booted.close();
  });

  it.each([['Integration'], ['integration; drop table x'], ['1st'], [''], ['x'.repeat(64)], [7]])(
    'refuses the schema name %p at bootstrap with InvalidIntegrationOptionsError, before any SQL (issue 12: schema)',
    async (schema) => {
      const orm = createOrm('pg', db.url);
      const statements: string[] = [];
      const query = orm.pool!.query.bind(orm.pool!);
      orm.pool!.query = ((...args: Parameters<Pool['query']>) => {
        statements.push(String(args[0]));
        return query(...args);
      }) as Pool['query'];
      try {
        const error = await createIntegrationApp(db.url, {
          orm: 'pg',
          integration: { database: orm.adapter, schema: schema as string },
        }).then(
          (booted) => booted.close(),
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(InvalidIntegrationOptionsError);
        expect((error as Error).message).toContain('schema: Invalid schema name');
        expect(statements).toEqual([]);
      } finally {
        await orm.close();
      }
    },
  );
});

describe('two apps with different schemas on one database and one pg pool (issue 12: schema)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    await moveTablesTo(db.url, ['alpha', 'beta']);
    pool = new Pool({ connectionString: db.url, max: 6 });
    pool.on('error', () => undefined);
  });
  // Each test's apps stop before the next test: a running processor of one test would
  // otherwise claim the next test's events in the same schemas.
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });

  it('each app sees only its own events, inbox rows and links; prepared statements of the two never collide (issue 12: schema)', async () => {
    // Both on the same pool with prepared statements on: one connection serves both apps' texts.
    const boot = async (schema: string): Promise<IntegrationTestApp> => {
      const app = await createIntegrationApp(db.url, {
        orm: 'pg',
        integration: {
          schema,
          database: pgAdapter(pool, { preparedStatements: true }),
          processor: { enabled: true, idlePollIntervalMs: 50, workerId: schema },
        },
        metadata: { providers: consumerFor('pg', new Behaviour(schema)) },
      });
      apps.push(app);
      return app;
    };
    const alpha = await boot('alpha');
    const beta = await boot('beta');

    const alphaIds = (await alpha.app.get(DomainEventPublisher).publishStandalone(thing('a-1')))!;
    const betaIds = (await beta.app.get(DomainEventPublisher).publishStandalone(thing('b-1')))!;
    const effects = () =>
      rows<{ label: string; event_id: string }>(
        db.url,
        'select label, event_id from public.schema_effect order by label',
      );
    await waitFor(async () => (await effects()).length === 2, 10_000, 'both apps to handle');
    expect(await effects()).toEqual([
      { label: 'alpha', event_id: alphaIds },
      { label: 'beta', event_id: betaIds },
    ]);

    const alphaAdmin = alpha.app.get(IntegrationAdminService);
    const betaAdmin = beta.app.get(IntegrationAdminService);
    expect(await alphaAdmin.findEvent(betaIds)).toBeUndefined();
    expect(await betaAdmin.findEvent(alphaIds)).toBeUndefined();
    const processed = async (admin: IntegrationAdminService, id: string): Promise<boolean> =>
      (await admin.findEvent(id))?.deliveries[0]?.status === DeliveryStatus.Processed;
    await waitFor(
      async () => (await processed(alphaAdmin, alphaIds)) && (await processed(betaAdmin, betaIds)),
      10_000,
      'both deliveries processed',
    );
    for (const [schema, id] of [
      ['alpha', alphaIds],
      ['beta', betaIds],
    ] as const) {
      expect(await rows(db.url, `select id::text from ${schema}.outbox_event`)).toEqual([{ id }]);
      expect(
        await rows(
          db.url,
          `select event_id::text as id, consumer_name, status, locked_by from ${schema}.integration_delivery`,
        ),
      ).toEqual([{ id, consumer_name: 'schema-audit', status: 'processed', locked_by: null }]);
      expect(await rows(db.url, `select source_entity_id from ${schema}.integration_link`)).toEqual(
        [{ source_entity_id: id }],
      );
    }
    expect(await alphaAdmin.findEventsByAggregate('Thing', 'b-1')).toEqual([]);
    expect(await betaAdmin.findEventsByAggregate('Thing', 'a-1')).toEqual([]);
    // Inbox rows (messages from outside the outbox) stay in the schema of the app that wrote them.
    const key = { eventId: 'external-alpha', consumer: 'webhooks' };
    expect((await alpha.app.get(InboxService).runOnce(key, async () => 'done')).executed).toBe(
      true,
    );
    expect(await rows(db.url, 'select event_id from alpha.inbox_event')).toEqual([
      { event_id: 'external-alpha' },
    ]);
    expect(await rows(db.url, 'select event_id from beta.inbox_event')).toEqual([]);
    expect(await beta.app.get(InboxService).findByEvent('external-alpha')).toEqual([]);
  });

  it('two apps on one connection run their own prepared statements and drain only their own events (issue 12: schema)', async () => {
    // max 1: every statement of both apps goes through the same connection, so a statement
    // name shared by two texts would fail ("prepared statement … already exists" or the
    // wrong table) instead of passing by luck of the pool.
    const single = new Pool({ connectionString: db.url, max: 1 });
    single.on('error', () => undefined);
    const boot = async (schema: string): Promise<IntegrationTestApp> => {
      const app = await createIntegrationApp(db.url, {
        orm: 'pg',
        integration: {
          schema,
          database: pgAdapter(single, { preparedStatements: true }),
          notify: { enabled: false },
        },
        metadata: { providers: consumerFor('pg', new Behaviour(`${schema}-single`)) },
      });
      apps.push(app);
      return app;
    };
    try {
      const alpha = await boot('alpha');
      const beta = await boot('beta');
      const a = (await alpha.app.get(DomainEventPublisher).publishStandalone(thing('a-2')))!;
      const b = (await beta.app.get(DomainEventPublisher).publishStandalone(thing('b-2')))!;
      const betaAdmin = beta.app.get(IntegrationAdminService);
      expect(await alpha.app.get(IntegrationAdminService).findEvent(b)).toBeUndefined();
      expect(await betaAdmin.findEvent(a)).toBeUndefined();

      expect(await drainUntilIdle(alpha.app)).toMatchObject({ claimed: 1, processed: 1 });
      // Alpha's drain neither sequenced nor delivered beta's event.
      expect(await betaAdmin.findEvent(b)).toMatchObject({ event: { id: b }, deliveries: [] });
      expect(await drainUntilIdle(beta.app)).toMatchObject({ claimed: 1, processed: 1 });
      expect(
        await rows(
          db.url,
          `select label, event_id from public.schema_effect where label like '%-single' order by label`,
        ),
      ).toEqual([
        { label: 'alpha-single', event_id: a },
        { label: 'beta-single', event_id: b },
      ]);
    } finally {
      for (const app of apps.splice(-2)) await app.close();
      await single.end();
    }
  });
});
