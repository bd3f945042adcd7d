import { PrismaPg } from '@prisma/adapter-pg';
import { Pool } from 'pg';
import {
  EventSubscriberRegistry,
  OutboxProcessor,
  pgAdapter,
  prismaAdapter,
  type IntegrationDatabaseAdapter,
} from '../../src/integration';
import type { ListenHandle } from '../../src/integration/database/sql-executor';
import { PrismaClient } from '../../src/generated/prisma/client';
import {
  createIntegrationApp,
  createOrm,
  publishAll,
  type IntegrationTestApp,
  type OrmClients,
  type OrmKind,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const KINDS: OrmKind[] = ['prisma', 'knex', 'pg'];

describe('database port: savepoint and listen (surface #2)', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
    await pool.query('create table surface_probe (kind text not null, v int not null)');
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const values = async (kind: OrmKind): Promise<number[]> =>
    (
      await pool.query<{ v: number }>('select v from surface_probe where kind = $1 order by v', [
        kind,
      ])
    ).rows.map((r) => r.v);

  describe.each(KINDS)('%s adapter', (kind) => {
    let orm: OrmClients;
    beforeEach(() => {
      orm = createOrm(kind, db.url);
    });
    afterEach(async () => {
      await orm.close();
    });

    it('savepoint undoes only what its function wrote, nests, and rethrows exactly what it threw (surface #2)', async () => {
      const marker = { not: 'an Error' };
      await orm.adapter.transaction(async (tx, sql) => {
        const insert = (v: number) =>
          sql.query('insert into surface_probe (kind, v) values ($1, $2)', [kind, v]);
        await insert(1);
        await expect(
          sql.savepoint(async () => {
            await insert(2);
            throw marker;
          }),
        ).rejects.toBe(marker);
        const inner = await sql.savepoint(async () => {
          await insert(3);
          await expect(
            sql.savepoint(async () => {
              await insert(4);
              throw undefined;
            }),
          ).rejects.toBeUndefined();
          return 'kept';
        });
        expect(inner).toBe('kept');
        // The executor of the ORM's own transaction handle has the same primitive.
        await orm.adapter.forTransaction(tx)!.savepoint(() => insert(5));
      });
      expect(await values(kind)).toEqual([1, 3, 5]);
    });

    it('savepoint rolls back a function that swallowed its own SQL error, and the transaction goes on (surface #2)', async () => {
      await orm.adapter.transaction(async (_tx, sql) => {
        await expect(
          sql.savepoint(async () => {
            await sql.query('insert into surface_probe (kind, v) values ($1, 20)', [kind]);
            await sql.query('select 1/0').catch(() => undefined);
          }),
        ).rejects.toThrow(/current transaction is aborted/);
        await sql.query('insert into surface_probe (kind, v) values ($1, 21)', [kind]);
      });
      const rows = await values(kind);
      expect(rows).toContain(21);
      expect(rows).not.toContain(20);
    });

    it('savepoint with abandonOn leaves the savepoint alone and rethrows (surface #2)', async () => {
      const abandon = new Error('abandon');
      await orm.adapter.transaction(async (_tx, sql) => {
        await expect(
          sql.savepoint(
            async () => {
              await sql.query('insert into surface_probe (kind, v) values ($1, 10)', [kind]);
              throw abandon;
            },
            { abandonOn: (error) => error === abandon },
          ),
        ).rejects.toBe(abandon);
      });
      // Not rolled back to the savepoint: the caller decides (here it commits).
      expect(await values(kind)).toContain(10);
    });

    it('listen calls back on NOTIFY until closed (surface #2)', async () => {
      const channel = `surface_${kind}`;
      let notified = 0;
      const ups: boolean[] = [];
      const handle = orm.adapter.listen!(channel, () => notified++, {
        onUp: (reconnected) => ups.push(reconnected),
      }) as ListenHandle;
      try {
        await handle.ready;
        expect(handle.listening).toBe(true);
        expect(ups).toEqual([false]);
        expect(await handle.backendPid()).toEqual(expect.any(Number));
        await pool.query(`NOTIFY ${channel}`);
        await waitFor(() => notified === 1, 10_000, 'the notification');
      } finally {
        await handle.close();
      }
      expect(handle.listening).toBe(false);
      expect(await handle.backendPid()).toBeUndefined();
    });
  });

  it('listen is undefined without connection settings, and takes them from options.connection (surface #2)', async () => {
    const prisma = new PrismaClient({
      adapter: new PrismaPg({ connectionString: db.url }),
    });
    try {
      const adapter = prismaAdapter(prisma);
      expect(adapter.listen!('surface_none', () => undefined)).toBeUndefined();
      const handle = adapter.listen!('surface_none', () => undefined, {
        connection: { connectionString: db.url },
      })!;
      await handle.ready;
      expect(handle.listening).toBe(true);
      await handle.close();
    } finally {
      await prisma.$disconnect();
    }
  });

  describe('the processor', () => {
    let t: IntegrationTestApp | undefined;
    let appPool: Pool | undefined;
    afterEach(async () => {
      await t?.close();
      await appPool?.end().catch(() => undefined);
      t = undefined;
      appPool = undefined;
    });

    it('LISTENs through the adapter’s listen (surface #2)', async () => {
      appPool = new Pool({ connectionString: db.url, max: 4 });
      const inner = pgAdapter(appPool);
      const channels: string[] = [];
      const adapter: IntegrationDatabaseAdapter = {
        ...inner,
        listen: (channel, onNotify, options) => {
          channels.push(channel);
          return inner.listen!(channel, onNotify, options);
        },
      };
      t = await createIntegrationApp(db.url, {
        integration: { database: adapter, processor: { enabled: true } },
      });
      const processor = t.app.get(OutboxProcessor);
      await waitFor(() => processor.listening, 10_000, 'LISTEN');
      expect(channels).toEqual(['integration_outbox']);
    });

    it('the batch runner’s isolated pass runs each delivery in the port’s savepoint (surface #2)', async () => {
      appPool = new Pool({ connectionString: db.url, max: 4 });
      const inner = pgAdapter(appPool);
      let savepoints = 0;
      const adapter: IntegrationDatabaseAdapter = {
        ...inner,
        transaction: (fn, options) =>
          inner.transaction(
            (tx, sql) =>
              fn(tx, {
                query: (text, params) => sql.query(text, params),
                savepoint: (body, savepointOptions) => {
                  savepoints++;
                  return sql.savepoint(body, savepointOptions);
                },
              }),
            options,
          ),
      };
      t = await createIntegrationApp(db.url, {
        integration: {
          database: adapter,
          processor: { retry: { maxAttempts: 3, baseDelayMs: 0, maxDelayMs: 0 } },
        },
      });
      // Registered before the first processBatch announces the consumers and fans out events.
      t.app.get(EventSubscriberRegistry).register<{ n: number }, unknown>({
        pattern: 'probe.happened',
        consumer: 'probe',
        name: 'Probe.handle',
        handle: async (event) => {
          if (event.payload.n === 1) throw new Error('n = 1 fails');
        },
      });
      await publishAll(
        t,
        [0, 1, 2].map((n) => ({
          name: 'probe.happened',
          aggregateType: 'Probe',
          aggregateId: `k${n}`,
          payload: { n },
        })),
      );
      const result = await t.app.get(OutboxProcessor).processBatch();
      expect(result).toMatchObject({ claimed: 3, processed: 2, retried: 1 });
      // The first pass failed on n = 1; the second ran the two others, each in a savepoint.
      expect(savepoints).toBe(2);
      const { rows } = await pool.query<{ n: number; status: string }>(
        `select (o.payload->>'n')::int as n, d.status from integration_delivery d
           join outbox_event o on o.id = d.event_id
          where d.consumer_name = 'probe' order by n`,
      );
      expect(rows).toEqual([
        { n: 0, status: 'processed' },
        { n: 1, status: 'pending' },
        { n: 2, status: 'processed' },
      ]);
    });
  });
});
