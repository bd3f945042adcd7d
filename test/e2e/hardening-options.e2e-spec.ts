import { Injectable, Module, type INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Interval, ScheduleModule, SchedulerRegistry } from '@nestjs/schedule';
import knexFactory from 'knex';
import { Client, Pool } from 'pg';
import {
  DEFAULT_PROCESSOR_INTERVAL_NAME,
  EventSubscriberRegistry,
  IntegrationAdminService,
  IntegrationConsumer,
  IntegrationModule,
  InvalidDatabaseAdapterError,
  InvalidHandlerError,
  InvalidIntegrationOptionsError,
  InvalidPurgeOptionsError,
  knexAdapter,
  MAX_PURGE_AGE_MS,
  OnIntegrationEvent,
  OutboxProcessor,
  pgAdapter,
  prismaAdapter,
  type IntegrationEvent,
  type IntegrationModuleOptions,
  type KnexLike,
  type PrismaClientLike,
  type PublishEventInput,
} from '../../src/integration';
import { DEFAULT_PURGE_INTERVAL_NAME } from '../../src/integration/integration.constants';
import {
  createIntegrationApp,
  createOrm,
  publishAll,
  type IntegrationTestApp,
  type OrmClients,
  registerCatchAll,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const ev = (key: string): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload: {},
});

/** A host job, as an app would write it: one tick per 100 ms. */
@Injectable()
class HostJob {
  ticks = 0;
  constructor(readonly registry: SchedulerRegistry) {}

  @Interval('host.job', 100)
  tick(): void {
    this.ticks++;
  }
}

@Module({ imports: [ScheduleModule.forRoot()], providers: [HostJob] })
class HostModule {}

/** A catch-all consumer that records the ids it is given (discovered before the processor starts). */
@Injectable()
@IntegrationConsumer('all')
class SeenConsumer {
  readonly seen: string[] = [];

  @OnIntegrationEvent('**')
  async handle(event: IntegrationEvent): Promise<void> {
    this.seen.push(event.id);
  }
}

@Module({ providers: [SeenConsumer] })
class SeenModule {}

/** Boots an app and expects bootstrap to fail; returns the error. */
async function bootstrapError(imports: unknown[]): Promise<unknown> {
  let app: INestApplication | undefined;
  try {
    const moduleRef = await Test.createTestingModule({ imports: imports as never[] }).compile();
    app = moduleRef.createNestApplication({ logger: false });
    await app.init();
  } catch (error) {
    return error;
  } finally {
    await app?.close();
  }
  throw new Error('expected bootstrap to fail');
}

describe('hardening: module options, wiring and adapters', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];
  const orms: OrmClients[] = [];

  const boot = async (
    integration: Partial<IntegrationModuleOptions>,
    imports: unknown[] = [],
  ): Promise<IntegrationTestApp> => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration,
      metadata: { imports: imports as never[] },
    });
    apps.push(t);
    return t;
  };
  /** Delivery rows per status, and how many events the log holds. */
  const deliveryRows = async (): Promise<Record<string, number>> => {
    const { rows } = await pool.query<{ status: string; n: number }>(
      `select status, count(*)::int as n from integration_delivery group by status
       union all select 'events', count(*)::int from outbox_event`,
    );
    return Object.fromEntries(rows.filter((r) => r.n > 0).map((r) => [r.status, r.n]));
  };
  const orm = (kind: OrmClients['kind']): OrmClients => {
    const clients = createOrm(kind, db.url);
    orms.push(clients);
    return clients;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    jest.useRealTimers();
    while (orms.length) await orms.pop()!.close();
    await pool.query(
      'truncate outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  describe('scheduling (hardening #2)', () => {
    it("runs the host's @Interval jobs once and registers the processor's intervals in the host's SchedulerRegistry (hardening #2)", async () => {
      // Only timers are faked: the database driver keeps its real ticks and microtasks.
      jest.useFakeTimers({
        doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'Date'],
      });
      const t = await boot(
        {
          notify: { enabled: false },
          processor: {
            enabled: true,
            startupDrain: false,
            idlePollIntervalMs: 60_000,
            purge: { enabled: true, intervalMs: 60_000 },
          },
        },
        [HostModule],
      );
      const job = t.app.get(HostJob);
      jest.advanceTimersByTime(1_000);
      expect(job.ticks).toBe(10);
      const purgeName = `${DEFAULT_PURGE_INTERVAL_NAME}:${DEFAULT_PROCESSOR_INTERVAL_NAME}`;
      const statsName = `integration.stats.flush:${DEFAULT_PROCESSOR_INTERVAL_NAME}`;
      expect(job.registry.getIntervals().sort()).toEqual(
        ['host.job', DEFAULT_PROCESSOR_INTERVAL_NAME, purgeName, statsName].sort(),
      );
      expect(t.app.get(SchedulerRegistry)).toBe(job.registry);
      await t.app.get(OutboxProcessor).stop();
      expect(job.registry.getIntervals()).toEqual(['host.job']);
    });

    it('delivers events on its own timers when the app does not import ScheduleModule (hardening #2)', async () => {
      const t = await boot(
        {
          notify: { enabled: false },
          processor: {
            enabled: true,
            startupDrain: false,
            idlePollIntervalMs: 20,
            purge: { enabled: true, intervalMs: 1_000 },
          },
        },
        [SeenModule],
      );
      const { seen } = t.app.get(SeenConsumer);
      expect(() => t.app.get(SchedulerRegistry)).toThrow();
      const [id] = await publishAll(t, [ev('polled')]);
      // Neither NOTIFY nor a startup drain: only the poll timer can deliver it.
      await waitFor(() => seen.includes(id!), 10_000, 'the poll timer to deliver the event');
      // The handler has run; its delivery is marked processed in the handler's transaction.
      await waitFor(
        async () => (await deliveryRows()).processed === 1,
        10_000,
        'the delivery to be processed',
      );
      expect(await deliveryRows()).toEqual({ events: 1, processed: 1 });
      expect(seen).toEqual([id]);
    });

    it('clears its own timers on stop when there is no SchedulerRegistry (hardening #2)', async () => {
      jest.useFakeTimers({
        doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'clearImmediate', 'Date'],
      });
      const t = await boot({
        notify: { enabled: false },
        processor: {
          startupDrain: false,
          idlePollIntervalMs: 60_000,
          purge: { enabled: true, intervalMs: 60_000 },
        },
      });
      const processor = t.app.get(OutboxProcessor);
      const before = jest.getTimerCount();
      await processor.start();
      // The poll, purge and stats intervals and the consumers' heartbeat (a timeout it re-arms).
      expect(jest.getTimerCount()).toBe(before + 4);
      await processor.stop();
      expect(jest.getTimerCount()).toBe(before);
    });
  });

  describe('limits (hardening #3, #4)', () => {
    it('refuses retry delays and purge intervals above 2^31-1 ms at bootstrap (hardening #3, #4)', async () => {
      const thirtyDays = 30 * 24 * 3_600_000;
      const error = await bootstrapError([
        IntegrationModule.forRoot({
          database: orm('pg').adapter,
          processor: {
            retry: { baseDelayMs: thirtyDays, maxDelayMs: thirtyDays },
            purge: { enabled: true, intervalMs: thirtyDays, olderThanMs: Number.MAX_SAFE_INTEGER },
          },
        }),
      ]);
      expect(error).toBeInstanceOf(InvalidIntegrationOptionsError);
      expect((error as InvalidIntegrationOptionsError).problems).toEqual([
        'processor.retry.baseDelayMs must be an integer from 0 to 2147483647 (got 2592000000)',
        'processor.retry.maxDelayMs must be an integer from 0 to 2147483647 (got 2592000000)',
        'processor.purge.intervalMs must be an integer from 1000 to 2147483647 (got 2592000000)',
        'processor.purge.olderThanMs must be an integer from 0 to 3153600000000 (got 9007199254740991)',
      ]);
    });

    it("refuses a consumer's retry delay above 2^31-1 ms when it registers (hardening #3)", async () => {
      const t = await boot({});
      expect(() =>
        t.app.get(EventSubscriberRegistry).register({
          pattern: 'test.*',
          consumer: 'slow',
          name: 'slow.handle',
          retry: { maxDelayMs: 2_592_000_000 },
          handle: async () => undefined,
        }),
      ).toThrow(InvalidHandlerError);
    });

    it('purgeProcessed refuses a bad batchSize or olderThanMs before any DELETE (hardening #4)', async () => {
      const t = await boot({});
      registerCatchAll(t.app.get(EventSubscriberRegistry));
      const processor = t.app.get(OutboxProcessor);
      const admin = t.app.get(IntegrationAdminService);
      await processor.drain();
      await publishAll(t, [ev('a'), ev('b'), ev('c')]);
      await processor.drain();
      expect(await deliveryRows()).toEqual({ events: 3, processed: 3 });
      const bad: unknown[] = [
        { batchSize: 0, olderThanMs: 0 },
        { batchSize: -1, olderThanMs: 0 },
        { batchSize: 1.5, olderThanMs: 0 },
        { batchSize: NaN, olderThanMs: 0 },
        { olderThanMs: Number.MAX_SAFE_INTEGER },
        { olderThanMs: -1 },
        { olderThan: 0 },
        null,
      ];
      for (const options of bad) {
        await expect(
          admin.purgeProcessed(options as { batchSize?: number }),
        ).rejects.toBeInstanceOf(InvalidPurgeOptionsError);
      }
      // Every purgeable row is still there: none of those calls deleted anything.
      expect(await deliveryRows()).toEqual({ events: 3, processed: 3 });
      // The largest accepted age is valid interval arithmetic for PostgreSQL.
      expect(await admin.purgeProcessed({ olderThanMs: MAX_PURGE_AGE_MS })).toBe(0);
      expect(await admin.purgeProcessed({ olderThanMs: 0, batchSize: 100_000 })).toBe(3);
      expect(await deliveryRows()).toEqual({});
    });

    it('purges with the largest accepted processor.purge.olderThanMs (hardening #4)', async () => {
      const t = await boot({ processor: { purge: { olderThanMs: MAX_PURGE_AGE_MS } } });
      registerCatchAll(t.app.get(EventSubscriberRegistry));
      const processor = t.app.get(OutboxProcessor);
      const admin = t.app.get(IntegrationAdminService);
      await processor.drain();
      await publishAll(t, [ev('a')]);
      await processor.drain();
      expect(await deliveryRows()).toEqual({ events: 1, processed: 1 });
      // A finished event from 101 years ago is past the window; one from 99 years ago is not.
      await pool.query(`update outbox_event set created_at = now() - interval '101 years'`);
      expect(await admin.purgeProcessed()).toBe(1);
      await publishAll(t, [ev('b')]);
      await processor.drain();
      await pool.query(`update outbox_event set created_at = now() - interval '99 years'`);
      expect(await admin.purgeProcessed()).toBe(0);
      expect(await deliveryRows()).toEqual({ events: 1, processed: 1 });
    });
  });

  describe('options (hardening #8)', () => {
    it('refuses a misspelt key at bootstrap instead of ignoring it (hardening #8)', async () => {
      const error = await bootstrapError([
        IntegrationModule.forRoot({
          database: orm('pg').adapter,
          proccessor: { enabled: false },
          processor: { batchsize: 5 },
        } as unknown as IntegrationModuleOptions),
      ]);
      expect(error).toBeInstanceOf(InvalidIntegrationOptionsError);
      const { problems } = error as InvalidIntegrationOptionsError;
      expect(problems).toHaveLength(2);
      expect(problems[0]).toMatch(/^proccessor is not an option: did you mean processor\?/);
      expect(problems[1]).toMatch(
        /^processor\.batchsize is not an option: did you mean processor\.batchSize\?/,
      );
    });

    it('refuses forRoot(undefined), forRoot(null) and a factory returning nothing, saying what to pass (hardening #8)', async () => {
      for (const missing of [undefined, null]) {
        expect(() => IntegrationModule.forRoot(missing as never)).toThrow(
          InvalidIntegrationOptionsError,
        );
        expect(() => IntegrationModule.forRoot(missing as never)).toThrow(
          /IntegrationModule\.forRoot\(\) needs an options object such as \{ database: prismaAdapter\(prisma\) \}/,
        );
        expect(() => IntegrationModule.forRootAsync(missing as never)).toThrow(
          InvalidIntegrationOptionsError,
        );
      }
      const error = await bootstrapError([
        IntegrationModule.forRootAsync({ useFactory: () => undefined as never }),
      ]);
      expect(error).toBeInstanceOf(InvalidIntegrationOptionsError);
      expect((error as Error).message).toContain('make useFactory return that object');
    });

    it('refuses a workerId or defaultSourceModule that is blank, has NUL or is too long, at bootstrap (hardening #8)', async () => {
      const error = await bootstrapError([
        IntegrationModule.forRoot({
          database: orm('pg').adapter,
          outbox: { defaultSourceModule: '  ' },
          processor: { workerId: 'host\u0000:1' },
        }),
      ]);
      expect((error as InvalidIntegrationOptionsError).problems).toEqual([
        'outbox.defaultSourceModule must not be empty or blank',
        'processor.workerId must not contain a NUL character (\\u0000): PostgreSQL cannot store it',
      ]);
      const long = await bootstrapError([
        IntegrationModule.forRoot({
          database: orm('pg').adapter,
          processor: { workerId: 'w'.repeat(201) },
        }),
      ]);
      expect((long as InvalidIntegrationOptionsError).problems).toEqual([
        'processor.workerId must be at most 200 characters (got 201)',
      ]);
    });
  });

  describe('adapters (hardening #8)', () => {
    const adapterError = (fn: () => unknown): InvalidDatabaseAdapterError => {
      try {
        fn();
      } catch (error) {
        expect(error).toBeInstanceOf(InvalidDatabaseAdapterError);
        return error as InvalidDatabaseAdapterError;
      }
      throw new Error('expected InvalidDatabaseAdapterError');
    };

    it('refuses the wrong client when the adapter is created, naming the right adapter (hardening #8)', () => {
      const prisma = orm('prisma').prisma!;
      const knex = orm('knex').knex!;
      const pgPool = orm('pg').pool!;
      const asPrisma = (x: unknown) => x as PrismaClientLike;
      const asKnex = (x: unknown) => x as KnexLike;
      const asPool = (x: unknown) => x as Pool;

      expect(adapterError(() => knexAdapter(asKnex(prisma))).message).toBe(
        'knexAdapter() was given a Prisma client: use prismaAdapter(prisma) for it.',
      );
      expect(adapterError(() => prismaAdapter(asPrisma(knex))).message).toBe(
        'prismaAdapter() was given a Knex instance: use knexAdapter(knex) for it.',
      );
      expect(adapterError(() => pgAdapter(asPool(prisma))).message).toBe(
        'pgAdapter() was given a Prisma client: use prismaAdapter(prisma) for it.',
      );
      expect(adapterError(() => pgAdapter(asPool(knex))).message).toBe(
        'pgAdapter() was given a Knex instance: use knexAdapter(knex) for it.',
      );
      expect(adapterError(() => prismaAdapter(asPrisma(pgPool))).message).toBe(
        'prismaAdapter() was given a pg Pool: use pgAdapter(pool) for it.',
      );
      expect(adapterError(() => knexAdapter(asKnex(pgPool))).message).toBe(
        'knexAdapter() was given a pg Pool: use pgAdapter(pool) for it.',
      );
      const error = adapterError(() => pgAdapter(asPool(undefined)));
      expect(error).toMatchObject({ adapter: 'pgAdapter', received: 'undefined' });
      expect(error.message).toBe(
        'pgAdapter() was given undefined: pass a pg Pool (new Pool({ connectionString })).',
      );
      expect(adapterError(() => prismaAdapter(asPrisma({}))).message).toBe(
        'prismaAdapter() was given a plain object: pass your PrismaClient (or the service that extends it).',
      );
      expect(adapterError(() => knexAdapter(asKnex(new Date()))).message).toBe(
        "knexAdapter() was given an instance of Date: pass your Knex instance (knex({ client: 'pg', connection })).",
      );
      expect(adapterError(() => knexAdapter(asKnex('postgres://x'))).received).toBe('a string');
      // The right clients are accepted.
      expect(prismaAdapter(prisma).kind).toBe('prisma');
      expect(knexAdapter(knex).kind).toBe('knex');
      expect(pgAdapter(pgPool).kind).toBe('pg');
    });

    it('refuses a transaction handle, a single pg Client and a non-PostgreSQL Knex (hardening #8)', async () => {
      const prisma = orm('prisma').prisma!;
      const knex = orm('knex').knex!;
      const prismaTx = await prisma.$transaction(async (tx) =>
        adapterError(() => prismaAdapter(tx as unknown as PrismaClientLike)),
      );
      expect(prismaTx.message).toMatch(
        /^prismaAdapter\(\) was given a Prisma interactive-transaction client: pass the PrismaClient itself/,
      );
      const knexTx = await knex.transaction(async (trx) =>
        adapterError(() => knexAdapter(trx as unknown as KnexLike)),
      );
      expect(knexTx.message).toMatch(
        /^knexAdapter\(\) was given a Knex transaction: pass the Knex instance itself/,
      );
      const client = new Client({ connectionString: db.url });
      expect(adapterError(() => pgAdapter(client as unknown as Pool)).message).toMatch(
        /^pgAdapter\(\) was given a pg Client \(not a Pool\): pass a pg Pool/,
      );
      const pooled = await pool.connect();
      try {
        expect(adapterError(() => pgAdapter(pooled as unknown as Pool)).received).toBe(
          'a pg Client (not a Pool)',
        );
      } finally {
        pooled.release();
      }
      // Redshift speaks the pg protocol but lacks what the module relies on (LISTEN/NOTIFY, SKIP LOCKED).
      const redshift = knexFactory({
        client: 'redshift',
        connection: { connectionString: db.url },
      });
      try {
        expect(adapterError(() => knexAdapter(redshift as unknown as KnexLike)).message).toBe(
          "knexAdapter() was given a Knex instance for redshift: this module needs PostgreSQL: configure Knex with client: 'pg'.",
        );
      } finally {
        await redshift.destroy();
      }
    });

    it('fails bootstrap, not the first query, when forRootAsync builds an adapter on the wrong client (hardening #8)', async () => {
      const prisma = orm('prisma').prisma!;
      const error = await bootstrapError([
        IntegrationModule.forRootAsync({
          useFactory: () => ({ database: knexAdapter(prisma as unknown as KnexLike) }),
        }),
      ]);
      expect(error).toBeInstanceOf(InvalidDatabaseAdapterError);
      expect((error as Error).message).toContain('use prismaAdapter(prisma)');
    });
  });
});
