import { Inject, Injectable, Module, type DynamicModule } from '@nestjs/common';
import { ClsPluginTransactional, Transactional, TransactionHost } from '@nestjs-cls/transactional';
import { TransactionalAdapterPrisma } from '@nestjs-cls/transactional-adapter-prisma';
import type { Knex } from 'knex';
import { ClsModule } from 'nestjs-cls';
import { Pool } from 'pg';
import type { PrismaClient } from '../../src/generated/prisma/client';
import {
  AmbientTransactionRequiredError,
  DomainEventPublisher,
  InvalidIntegrationOptionsError,
  EventSubscriberRegistry,
  IntegrationContext,
  OutboxProcessor,
  type IntegrationEvent,
  type PublishEventInput,
} from '../../src/integration';
import {
  createIntegrationApp,
  createOrm,
  registerCatchAll,
  type IntegrationTestApp,
  type OrmKind,
} from '../support/integration-app';
import { KnexTransactionalAdapter } from '../support/knex-transactional-adapter';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** Token of the ORM client the transactional adapter opens transactions on. */
const DB = Symbol('DB');
/** Token of the business write of the ORM under test: one row in `shop_order`. */
const WRITE = Symbol('WRITE');
type BusinessWrite = (tx: unknown, id: string) => Promise<void>;

const placed = (id: string, over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'order.placed',
  aggregateType: 'Order',
  aggregateId: id,
  payload: { id },
  ...over,
});

/** A service of the app: business write and event in one `@Transactional()` method. */
@Injectable()
class Orders {
  constructor(
    private readonly txHost: TransactionHost,
    private readonly publisher: DomainEventPublisher,
    @Inject(WRITE) private readonly write: BusinessWrite,
  ) {}

  @Transactional()
  async place(id: string, options: { fail?: boolean } = {}): Promise<string | null> {
    await this.write(this.txHost.tx, id);
    const eventId = await this.publisher.publish(placed(id));
    if (options.fail) throw new Error(`order ${id} refused after its writes`);
    return eventId;
  }

  @Transactional()
  async placeMany(ids: string[]): Promise<(string | null)[]> {
    for (const id of ids) await this.write(this.txHost.tx, id);
    return this.publisher.publishMany(ids.map((id) => placed(id)));
  }

  /** The transaction a `@Transactional()` method called from a handler writes in. */
  @Transactional()
  async currentTransaction(): Promise<unknown> {
    return this.txHost.tx;
  }
}

/** The ORM's client under {@link DB}, for the transactional adapter. */
function dbModule(client: unknown): DynamicModule {
  @Module({})
  class DbModule {}
  return { module: DbModule, providers: [{ provide: DB, useValue: client }], exports: [DB] };
}

/** `ClsModule` with the transactional plugin over `client` (the default connection). */
function clsTransactional(
  client: unknown,
  adapter: TransactionalAdapterPrisma | KnexTransactionalAdapter,
): DynamicModule {
  return ClsModule.forRoot({
    global: true,
    plugins: [new ClsPluginTransactional({ imports: [dbModule(client)], adapter })],
  });
}

describe.each<OrmKind>(['prisma', 'knex'])('publish(event) in @Transactional() with %s', (orm) => {
  let db: TestDatabase;
  let t: IntegrationTestApp;
  let pool: Pool;
  let orders: Orders;

  const rows = async (sql: string, params: unknown[] = []) => (await pool.query(sql, params)).rows;
  const ordersWritten = async () =>
    (await rows('SELECT id FROM shop_order ORDER BY id')).map((r) => r.id as string);
  const eventsWritten = async () =>
    (
      await rows(
        `SELECT aggregate_id FROM outbox_event WHERE event_name = 'order.placed' ORDER BY seq`,
      )
    ).map((r) => r.aggregate_id as string);

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    await pool.query('CREATE TABLE shop_order (id text PRIMARY KEY)');
    const clients = createOrm(orm, db.url);
    const write: BusinessWrite =
      orm === 'prisma'
        ? async (tx, id) => {
            await (tx as PrismaClient).$executeRaw`INSERT INTO shop_order (id) VALUES (${id})`;
          }
        : async (tx, id) => {
            await (tx as Knex)('shop_order').insert({ id });
          };
    const adapter =
      orm === 'prisma'
        ? new TransactionalAdapterPrisma({ prismaInjectionToken: DB })
        : new KnexTransactionalAdapter({ knexInstanceToken: DB });
    t = await createIntegrationApp(db.url, {
      orm,
      integration: { database: clients.adapter, context: { transactional: true } },
      metadata: {
        imports: [clsTransactional(orm === 'prisma' ? clients.prisma : clients.knex, adapter)],
        providers: [Orders, { provide: WRITE, useValue: write }],
      },
    });
    orders = t.app.get(Orders);
    // The app's own clients close with it; the ones of `createOrm` above with the adapter.
    const close = t.close;
    t = { ...t, close: async () => (await close(), await clients.close()) };
  });
  afterAll(async () => {
    await pool.end();
    await t.close();
    await db.drop();
  });

  it('commits the event with the business write', async () => {
    const id = await orders.place('o-1');
    expect(await ordersWritten()).toEqual(['o-1']);
    expect(
      await rows('SELECT id::text FROM outbox_event WHERE aggregate_id = $1', ['o-1']),
    ).toEqual([{ id }]);
    expect(await orders.placeMany(['o-2', 'o-3'])).toHaveLength(2);
    expect(await eventsWritten()).toEqual(['o-1', 'o-2', 'o-3']);
  });

  it('rolls the event back with the business write', async () => {
    await expect(orders.place('o-4', { fail: true })).rejects.toThrow('order o-4 refused');
    expect(await ordersWritten()).not.toContain('o-4');
    expect(await eventsWritten()).not.toContain('o-4');
  });

  it('refuses publish(event) outside any transaction, naming the fix', async () => {
    const publisher = t.app.get(DomainEventPublisher);
    const refused = publisher.publish(placed('o-5'));
    await expect(refused).rejects.toThrow(AmbientTransactionRequiredError);
    await expect(publisher.publishMany([placed('o-5')])).rejects.toThrow(/@Transactional\(\)/);
    expect(await eventsWritten()).not.toContain('o-5');
  });

  it("runs handlers with ctx.tx as the ambient transaction, in the handled event's context", async () => {
    const seen: { sameTx: boolean; event: IntegrationEvent }[] = [];
    registerCatchAll(t.app.get(EventSubscriberRegistry), async (event, ctx) => {
      if (event.name !== 'order.placed' || event.aggregateId !== 'o-6') return;
      seen.push({ sameTx: (await orders.currentTransaction()) === ctx.tx, event });
      // Joins the delivery's transaction: committed with the delivery's mark.
      await t.app.get(DomainEventPublisher).publish({ ...placed('o-6'), name: 'order.confirmed' });
    });
    const first = await t.app
      .get(IntegrationContext)
      .run({ correlationId: 'checkout-6' }, () => orders.place('o-6'));
    await t.app.get(OutboxProcessor).drain();
    expect(seen).toEqual([{ sameTx: true, event: expect.objectContaining({ id: first }) }]);
    expect(
      await rows(
        `SELECT event_name, correlation_id, causation_id::text FROM outbox_event
          WHERE aggregate_id = 'o-6' ORDER BY seq`,
      ),
    ).toEqual([
      { event_name: 'order.placed', correlation_id: 'checkout-6', causation_id: null },
      { event_name: 'order.confirmed', correlation_id: 'checkout-6', causation_id: first },
    ]);
  });
});

describe('publish(event) without context.transactional', () => {
  it('refuses, naming the option', async () => {
    const db = await createTestDatabase();
    const t = await createIntegrationApp(db.url, { orm: 'pg' });
    try {
      const refused = t.app.get(DomainEventPublisher).publish(placed('x'));
      await expect(refused).rejects.toThrow(AmbientTransactionRequiredError);
      await expect(t.app.get(DomainEventPublisher).publish(placed('x'))).rejects.toThrow(
        /context: \{ transactional: true \}/,
      );
    } finally {
      await t.close();
      await db.drop();
    }
  });
});

describe('context.transactional naming a connection that has no TransactionHost', () => {
  it('fails the bootstrap with a typed error naming the fix, not the first handler', async () => {
    const db = await createTestDatabase();
    const clients = createOrm('knex', db.url);
    try {
      const boot = createIntegrationApp(db.url, {
        orm: 'knex',
        integration: {
          database: clients.adapter,
          context: { transactional: { connectionName: 'billing' } },
        },
        metadata: {
          imports: [
            clsTransactional(clients.knex, new KnexTransactionalAdapter({ knexInstanceToken: DB })),
          ],
        },
      });
      await expect(boot).rejects.toBeInstanceOf(InvalidIntegrationOptionsError);
      await expect(boot).rejects.toThrow(
        /no TransactionHost for connection "billing": register ClsPluginTransactional\(\{ connectionName: 'billing'/,
      );
    } finally {
      await clients.close();
      await db.drop();
    }
  });
});
