import { AmbientTransactions } from '../../src/integration/context/ambient-transactions';
import { IntegrationContext } from '../../src/integration/context/integration-context';
import { IntegrationTracing } from '../../src/integration/observability/tracing/integration-tracing';
import { Logger } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { pgAdapter } from '../../src/integration';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import { renderIntegrationMigration } from '../../src/integration/database/integration-migrations';
import type { IntegrationEvent } from '../../src/integration/events/integration-event';
import { INTEGRATION_OPTIONS } from '../../src/integration/integration.constants';
import type { ResolvedIntegrationOptions } from '../../src/integration/integration.options';
import { IntegrationLinkService } from '../../src/integration/links/integration-link.service';
import { DeliveryMark } from '../../src/integration/processing/delivery-mark';
import type {
  ClaimedDelivery,
  DeliveryFact,
} from '../../src/integration/processing/delivery.types';
import { HandlerInvoker } from '../../src/integration/processing/handler-invoker';
import { BatchRunner } from '../../src/integration/processing/runners/batch.runner';
import type { ConsumerBatch } from '../../src/integration/processing/runners/consumer-runner';
import { ConsumerRunners } from '../../src/integration/processing/runners/consumer-runners';
import { PerEventRunner } from '../../src/integration/processing/runners/per-event.runner';
import { UntransactedRunner } from '../../src/integration/processing/runners/untransacted.runner';
import type {
  HandlerContext,
  RegisteredHandler,
  TransactionMode,
} from '../../src/integration/subscribers/handler.types';
import { isTransactionConflict } from '../../src/integration/subscribers/transaction-conflict';
import { useEffectFixture, thingEvent } from '../support/effect-fixture';
import { createIntegrationApp, publishAll, type OrmKind } from '../support/integration-app';
import { execIn } from '../support/orm-sql';
import { gate, waitFor } from '../support/wait-for';

const WORKER = 'runner-worker';
const BUMP = 'update dr_ledger set n = n + 1 where id = $1';

/** A handler of the test: what it does with the event and its context. */
type Handle = (event: IntegrationEvent<{ key: string }>, ctx: HandlerContext) => Promise<void>;

describe('delivery runners (delivery core v2, issue 13)', () => {
  const fx = useEffectFixture('dr_effect');

  beforeAll(async () => {
    // The app's migration list (db/migrations) does not apply 0002 yet: apply it here until it does.
    const { rows } = await fx.pool.query<{ t: string | null }>(
      `select to_regclass('integration_delivery')::text as t`,
    );
    if (rows[0]!.t === null)
      await fx.pool.query(renderIntegrationMigration({ id: '0002_per_consumer_delivery' }, 'up'));
    // Deadlocks are detected after deadlock_timeout (1 s by default): keep the suite quick.
    await fx.pool.query(`alter database "${fx.db.name}" set deadlock_timeout = '50ms'`);
    await fx.pool.query('create table dr_ledger (id int primary key, n int not null)');
  });
  beforeEach(async () => {
    await fx.pool.query('insert into dr_ledger values (1, 0), (2, 0)');
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    await fx.pool.query('truncate integration_delivery, dr_ledger');
  });

  /** The runners of a fresh app (pg adapter, on a pipelined pool when asked). */
  async function setUp(
    options: { pipelined?: boolean; handlerTimeoutMs?: number; orm?: OrmKind } = {},
  ) {
    const t = await createIntegrationApp(fx.db.url, {
      orm: options.orm ?? 'pg',
      integration: {
        ...(options.pipelined ? { database: pgAdapter(fx.pipelined) } : {}),
        processor: { handlerTimeoutMs: options.handlerTimeoutMs ?? 30_000 },
      },
    });
    fx.apps.push(t);
    const resolved = t.app.get<ResolvedIntegrationOptions>(INTEGRATION_OPTIONS);
    const invoker = new HandlerInvoker(
      resolved,
      t.app.get(IntegrationLinkService),
      t.app.get(IntegrationContext),
      t.app.get(AmbientTransactions),
      t.app.get(IntegrationTracing),
    );
    const mark = new DeliveryMark(t.app.get(IntegrationTables));
    const runners = new ConsumerRunners(
      new BatchRunner(resolved, invoker, mark),
      new PerEventRunner(resolved, invoker, mark),
      new UntransactedRunner(invoker),
    );
    /**
     * Publishes one event per key (aggregate `Thing`, ordering key `Thing:<key>`) and gives
     * `consumers` each a delivery of every event, leased to this worker at `attempt`.
     */
    const seed = async (
      keys: readonly string[],
      consumers: readonly string[] = ['c1'],
      attempt = 1,
    ): Promise<Map<string, ClaimedDelivery[]>> => {
      const ids = await publishAll(
        t,
        keys.map((key, i) => thingEvent('thing.moved', key, { key: `${key}#${i}` })),
      );
      const { rows } = await fx.pool.query<{
        id: string;
        seq: string;
        ordering_key: string;
        payload: { key: string };
        created_at: Date;
      }>(
        `select id::text, seq::text, ordering_key, payload, created_at from outbox_event
          where id = any($1::uuid[]) order by seq`,
        [ids],
      );
      const byConsumer = new Map<string, ClaimedDelivery[]>();
      for (const consumer of consumers) {
        await fx.pool.query(
          `insert into integration_delivery
             (event_id, consumer_name, position, ordering_key, status, attempt_count, claim_count, locked_by, locked_until)
           select id, $1, seq, ordering_key, 'processing', $2, $2, $3, now() + interval '1 minute'
             from outbox_event where id = any($4::uuid[])`,
          [consumer, attempt, WORKER, ids],
        );
        byConsumer.set(
          consumer,
          rows.map((r) => ({
            eventId: r.id,
            consumer,
            position: r.seq,
            orderingKey: r.ordering_key,
            attempt,
            leaseExpired: false,
            lastError: null,
            event: {
              id: r.id,
              seq: r.seq,
              name: 'thing.moved',
              version: 1,
              sourceModule: null,
              aggregateType: 'Thing',
              aggregateId: r.ordering_key.slice('Thing:'.length),
              orderingKey: r.ordering_key,
              payload: r.payload,
              headers: {},
              tenantId: null,
              correlationId: null,
              causationId: null,
              idempotencyKey: null,
              createdAt: r.created_at,
            },
          })),
        );
      }
      return byConsumer;
    };
    return { t, runners, seed };
  }

  /** A consumer batch of `deliveries` whose one handler is `handle`. */
  function batchOf(
    deliveries: readonly ClaimedDelivery[],
    mode: TransactionMode,
    handle: Handle,
    extra: { concurrency?: number; isStopping?: () => boolean } = {},
  ): ConsumerBatch {
    const consumer = deliveries[0]?.consumer ?? 'c1';
    const handler: RegisteredHandler = {
      pattern: 'thing.*',
      name: `${consumer}.handle`,
      consumer,
      handle: handle as RegisteredHandler['handle'],
      order: 0,
      priority: 0,
      matches: () => true,
    };
    return {
      consumer,
      settings: { transactional: mode, concurrency: extra.concurrency ?? 1, startFrom: 'now' },
      workerId: WORKER,
      deliveries,
      handlersOf: () => [handler],
      isStopping: extra.isStopping ?? (() => false),
    };
  }

  /** Writes the effect of `event` through the handler's transaction (or the pool without one). */
  const effect = (event: IntegrationEvent<{ key: string }>, ctx: HandlerContext, pool: Pool) =>
    ((ctx.tx as PoolClient | undefined) ?? pool).query(fx.effectSql, [
      ctx.consumer,
      event.id,
      event.payload.key,
    ]);

  const effects = async (): Promise<string[]> =>
    (await fx.pool.query<{ note: string }>('select note from dr_effect order by seq')).rows.map(
      (r) => r.note,
    );

  /** Status, attempt and lock of each delivery of `consumer`, in position order. */
  const deliveryRows = async (consumer = 'c1') =>
    (
      await fx.pool.query<{ status: string; attempt_count: number; locked_by: string | null }>(
        `select status, attempt_count, locked_by from integration_delivery
          where consumer_name = $1 order by position`,
        [consumer],
      )
    ).rows;

  const kinds = (facts: readonly DeliveryFact[]) => facts.map((f) => f.kind);
  const quietWarnings = () => jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});

  describe.each<TransactionMode>(['batch', 'per-event'])('transactional %p', (mode) => {
    it('commits effects with the processed mark, and a failing handler leaves neither', async () => {
      quietWarnings();
      const { runners, seed } = await setUp();
      const deliveries = (await seed(['a', 'b', 'c'])).get('c1')!;
      const calls: string[] = [];
      const facts = await runners.runnerFor(mode).run(
        batchOf(deliveries, mode, async (event, ctx) => {
          calls.push(event.payload.key);
          await effect(event, ctx, fx.pool);
          if (event.payload.key === 'b#1') throw new Error('b is broken');
        }),
      );

      expect(kinds(facts)).toEqual(['handled', 'failed', 'handled']);
      expect(facts[1]).toMatchObject({ error: 'Error: b is broken' });
      for (const fact of [facts[0]!, facts[2]!])
        expect((fact as { durationMs: number }).durationMs).toBeGreaterThanOrEqual(0);
      expect(await effects()).toEqual(['a#0', 'c#2']);
      expect(await deliveryRows()).toEqual([
        { status: 'processed', attempt_count: 1, locked_by: null },
        { status: 'processing', attempt_count: 1, locked_by: WORKER },
        { status: 'processed', attempt_count: 1, locked_by: null },
      ]);
      // The isolated pass does not call the handler the first pass blamed a second time.
      expect(calls.filter((k) => k === 'b#1')).toHaveLength(1);
      const { rows } = await fx.pool.query(
        `select count(*)::int as n from integration_delivery
          where status = 'processed' and (processed_at is null or last_error is not null or locked_until is not null)`,
      );
      expect(rows[0]).toEqual({ n: 0 });
    });

    it('reports lease-lost for a delivery another worker took (or a later attempt fenced), with no effect', async () => {
      const { runners, seed } = await setUp();
      const deliveries = (await seed(['a', 'b', 'c'])).get('c1')!;
      await fx.pool.query(
        `update integration_delivery set locked_by = 'other-worker' where event_id = $1`,
        [deliveries[0]!.eventId],
      );
      await fx.pool.query(`update integration_delivery set attempt_count = 2 where event_id = $1`, [
        deliveries[1]!.eventId,
      ]);
      const calls: string[] = [];
      const facts = await runners.runnerFor(mode).run(
        batchOf(deliveries, mode, async (event, ctx) => {
          calls.push(event.payload.key);
          await effect(event, ctx, fx.pool);
        }),
      );

      expect(facts).toEqual([
        { kind: 'lease-lost' },
        { kind: 'lease-lost' },
        { kind: 'handled', durationMs: expect.any(Number) },
      ]);
      // 'batch': the optimistic pass runs every handler and marks last, so the short mark rolls
      // it all back; the isolated pass marks each delivery before its handlers: lost ones do not
      // run again. 'per-event' marks before its handlers.
      expect(calls).toEqual(mode === 'batch' ? ['a#0', 'b#1', 'c#2', 'c#2'] : ['c#2']);
      expect(await effects()).toEqual(['c#2']);
      expect(await deliveryRows()).toEqual([
        { status: 'processing', attempt_count: 1, locked_by: 'other-worker' },
        { status: 'processing', attempt_count: 2, locked_by: WORKER },
        { status: 'processed', attempt_count: 1, locked_by: null },
      ]);
    });

    it('leaves a key whose earlier delivery lost its lease not started', async () => {
      const { runners, seed } = await setUp();
      const deliveries = (await seed(['k', 'k', 'j'])).get('c1')!;
      await fx.pool.query(
        `update integration_delivery set locked_by = 'other-worker' where event_id = $1`,
        [deliveries[0]!.eventId],
      );
      const calls: string[] = [];
      const facts = await runners.runnerFor(mode).run(
        batchOf(deliveries, mode, async (event, ctx) => {
          calls.push(event.payload.key);
          await effect(event, ctx, fx.pool);
        }),
      );
      expect(kinds(facts)).toEqual(['lease-lost', 'not-started', 'handled']);
      // 'batch': the optimistic pass (rolled back by the short mark), then the isolated pass.
      expect(calls).toEqual(mode === 'batch' ? ['k#0', 'k#1', 'j#2', 'j#2'] : ['j#2']);
      expect((await deliveryRows()).map((r) => r.status)).toEqual([
        'processing',
        'processing',
        'processed',
      ]);
    });

    it('re-runs a deadlocked transaction without counting an attempt: effects once', async () => {
      const { runners, seed } = await setUp();
      const byConsumer = await seed(['l'], ['ledger-a', 'ledger-b']);
      const bothHoldTheirFirstRow = barrier(2);
      const calls = { 'ledger-a': 0, 'ledger-b': 0 };
      const failures: unknown[] = [];
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      // Two consumers write the two ledger rows in opposite orders, each waiting, holding its
      // first row, until the other holds its own: a deadlock every time.
      const ledgerBatch = (consumer: 'ledger-a' | 'ledger-b', first: number, second: number) =>
        batchOf(byConsumer.get(consumer)!, mode, async (_event, ctx) => {
          const firstCall = calls[consumer]++ === 0;
          const tx = ctx.tx as PoolClient;
          await tx.query(BUMP, [first]);
          if (firstCall) await bothHoldTheirFirstRow();
          try {
            await tx.query(BUMP, [second]);
          } catch (error) {
            failures.push(error);
            throw error;
          }
        });
      const runner = runners.runnerFor(mode);
      const facts = await Promise.all([
        runner.run(ledgerBatch('ledger-a', 1, 2)),
        runner.run(ledgerBatch('ledger-b', 2, 1)),
      ]);

      expect(facts.map(kinds)).toEqual([['handled'], ['handled']]);
      expect(failures).toHaveLength(1);
      expect(isTransactionConflict(failures[0])).toBe(true);
      expect(calls['ledger-a'] + calls['ledger-b']).toBe(3);
      expect((await fx.pool.query('select id, n from dr_ledger order by id')).rows).toEqual([
        { id: 1, n: 2 },
        { id: 2, n: 2 },
      ]);
      for (const consumer of ['ledger-a', 'ledger-b'])
        expect(await deliveryRows(consumer)).toEqual([
          { status: 'processed', attempt_count: 1, locked_by: null },
        ]);
    });
  });

  describe.each<[OrmKind, TransactionMode]>([
    ['knex', 'batch'],
    ['knex', 'per-event'],
    ['prisma', 'batch'],
    ['prisma', 'per-event'],
  ])('with %s, transactional %p', (orm, mode) => {
    it('commits effects with the processed mark, and a failing handler leaves neither', async () => {
      quietWarnings();
      const { runners, seed } = await setUp({ orm });
      const deliveries = (await seed(['a', 'b'])).get('c1')!;
      const facts = await runners.runnerFor(mode).run(
        batchOf(deliveries, mode, async (event, ctx) => {
          await execIn(orm, ctx.tx, fx.effectSql, [ctx.consumer, event.id, event.payload.key]);
          if (event.payload.key === 'a#0') throw new Error('a is broken');
        }),
      );
      expect(kinds(facts)).toEqual(['failed', 'handled']);
      expect(await effects()).toEqual(['b#1']);
      expect((await deliveryRows()).map((r) => r.status)).toEqual(['processing', 'processed']);
    });
  });

  describe.each<TransactionMode>(['batch', 'per-event', false])('transactional %p', (mode) => {
    it('runs a key in order and leaves its later deliveries not started after a failure', async () => {
      quietWarnings();
      const { runners, seed } = await setUp();
      const deliveries = (await seed(['k', 'k', 'j', 'k'])).get('c1')!;
      const calls: string[] = [];
      const facts = await runners.runnerFor(mode).run(
        batchOf(deliveries, mode, async (event, ctx) => {
          calls.push(event.payload.key);
          if (event.payload.key === 'k#0') throw new Error('first of k fails');
          await effect(event, ctx, fx.pool);
        }),
      );

      expect(kinds(facts)).toEqual(['failed', 'not-started', 'handled', 'not-started']);
      expect(calls).toEqual(['k#0', 'j#2']);
      expect(await effects()).toEqual(['j#2']);
      // Without a transaction nothing is marked here: the settle policy writes processed later.
      expect((await deliveryRows()).map((r) => r.status)).toEqual([
        'processing',
        'processing',
        mode === false ? 'processing' : 'processed',
        'processing',
      ]);
    });

    it('starts nothing new once the processor is stopping', async () => {
      const { runners, seed } = await setUp();
      const deliveries = (await seed(['a', 'b', 'c'])).get('c1')!;
      let stopping = false;
      const calls: string[] = [];
      const facts = await runners.runnerFor(mode).run(
        batchOf(
          deliveries,
          mode,
          async (event, ctx) => {
            calls.push(event.payload.key);
            await effect(event, ctx, fx.pool);
            stopping = true;
          },
          { isStopping: () => stopping },
        ),
      );

      // What ran commits (the batch transaction marks it alone); the rest is left untouched.
      expect(calls).toEqual(['a#0']);
      expect(kinds(facts)).toEqual(['handled', 'not-started', 'not-started']);
      expect(await effects()).toEqual(['a#0']);
      expect((await deliveryRows()).map((r) => r.status)).toEqual([
        mode === false ? 'processing' : 'processed',
        'processing',
        'processing',
      ]);
    });
  });

  describe('transactional batch', () => {
    it('abandons the whole transaction when a handler times out: that delivery failed, the rest not started, nothing committed', async () => {
      quietWarnings();
      const { runners, seed } = await setUp({ handlerTimeoutMs: 200 });
      const deliveries = (await seed(['a', 'b', 'c'])).get('c1')!;
      const stuck = gate();
      try {
        const facts = await runners.runnerFor('batch').run(
          batchOf(deliveries, 'batch', async (event, ctx) => {
            await effect(event, ctx, fx.pool);
            if (event.payload.key === 'b#1') await stuck.promise;
          }),
        );
        expect(kinds(facts)).toEqual(['not-started', 'failed', 'not-started']);
        expect((facts[1] as { error: string }).error).toMatch(/^HandlerTimeoutError: /);
        expect(await effects()).toEqual([]);
        expect((await deliveryRows()).map((r) => r.status)).toEqual([
          'processing',
          'processing',
          'processing',
        ]);
      } finally {
        stuck.open();
      }
    });

    it('abandons the isolated pass too when a handler times out there', async () => {
      quietWarnings();
      const { runners, seed } = await setUp({ handlerTimeoutMs: 200 });
      const deliveries = (await seed(['a', 'b', 'c'])).get('c1')!;
      const stuck = gate();
      let passes = 0;
      try {
        const facts = await runners.runnerFor('batch').run(
          batchOf(deliveries, 'batch', async (event, ctx) => {
            await effect(event, ctx, fx.pool);
            if (event.payload.key === 'a#0') passes++;
            if (event.payload.key === 'b#1') throw new Error('b fails in the first pass');
            // In the isolated pass, c hangs.
            if (event.payload.key === 'c#2' && passes > 1) await stuck.promise;
          }),
        );
        expect(passes).toBe(2);
        expect(kinds(facts)).toEqual(['not-started', 'failed', 'failed']);
        expect((facts[2] as { error: string }).error).toMatch(/^HandlerTimeoutError: /);
        expect(await effects()).toEqual([]);
      } finally {
        stuck.open();
      }
    });

    it('runs ordering keys side by side in lanes on a pipelined pool', async () => {
      const { runners, seed } = await setUp({ pipelined: true });
      const deliveries = (await seed(['k', 'j', 'k'])).get('c1')!;
      let running = 0;
      let mostRunning = 0;
      const order: string[] = [];
      const facts = await runners.runnerFor('batch').run(
        batchOf(
          deliveries,
          'batch',
          async (event, ctx) => {
            running++;
            mostRunning = Math.max(mostRunning, running);
            // k's first delivery waits until j's has started: only lanes let both run.
            if (event.payload.key === 'k#0')
              await waitFor(() => order.includes('j#1'), 5_000, 'the j lane to start');
            order.push(event.payload.key);
            await effect(event, ctx, fx.pool);
            running--;
          },
          { concurrency: 2 },
        ),
      );

      expect(kinds(facts)).toEqual(['handled', 'handled', 'handled']);
      expect(mostRunning).toBe(2);
      // Within key k, commit order holds.
      expect(order.filter((k) => k.startsWith('k'))).toEqual(['k#0', 'k#2']);
      expect((await effects()).sort()).toEqual(['j#1', 'k#0', 'k#2']);
      expect((await deliveryRows()).map((r) => r.status)).toEqual([
        'processed',
        'processed',
        'processed',
      ]);
    });

    it('runs one delivery at a time without a pipelining adapter, and says so once', async () => {
      const warn = quietWarnings();
      const { runners, seed } = await setUp();
      const runner = runners.runnerFor('batch');
      let running = 0;
      let mostRunning = 0;
      const handle: Handle = async (event, ctx) => {
        running++;
        mostRunning = Math.max(mostRunning, running);
        await effect(event, ctx, fx.pool);
        running--;
      };
      const first = (await seed(['k', 'j'])).get('c1')!;
      expect(kinds(await runner.run(batchOf(first, 'batch', handle, { concurrency: 2 })))).toEqual([
        'handled',
        'handled',
      ]);
      const second = (await seed(['i'])).get('c1')!;
      await runner.run(batchOf(second, 'batch', handle, { concurrency: 2 }));
      expect(mostRunning).toBe(1);
      const notices = warn.mock.calls.filter(([m]) => String(m).includes('not pipelined'));
      expect(notices).toHaveLength(1);
    });

    it('re-runs a deadlocked transaction in lanes on a pipelined pool', async () => {
      const { runners, seed } = await setUp({ pipelined: true });
      jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => {});
      const byConsumer = await seed(['l', 'm'], ['ledger-a', 'ledger-b']);
      const bothHoldTheirFirstRow = barrier(2);
      const calls = { 'ledger-a': 0, 'ledger-b': 0 };
      const failures: unknown[] = [];
      const ledgerBatch = (consumer: 'ledger-a' | 'ledger-b', first: number, second: number) =>
        batchOf(
          // One delivery bumps; the other lane is there so the runner uses lanes.
          byConsumer.get(consumer)!,
          'batch',
          async (event, ctx) => {
            if (!event.payload.key.startsWith('l')) return;
            const firstCall = calls[consumer]++ === 0;
            const tx = ctx.tx as PoolClient;
            await tx.query(BUMP, [first]);
            if (firstCall) await bothHoldTheirFirstRow();
            try {
              await tx.query(BUMP, [second]);
            } catch (error) {
              failures.push(error);
              throw error;
            }
          },
          { concurrency: 4 },
        );
      const runner = runners.runnerFor('batch');
      const facts = await Promise.all([
        runner.run(ledgerBatch('ledger-a', 1, 2)),
        runner.run(ledgerBatch('ledger-b', 2, 1)),
      ]);
      expect(facts.map(kinds)).toEqual([
        ['handled', 'handled'],
        ['handled', 'handled'],
      ]);
      expect(failures).toHaveLength(1);
      expect(isTransactionConflict(failures[0])).toBe(true);
      expect((await fx.pool.query('select id, n from dr_ledger order by id')).rows).toEqual([
        { id: 1, n: 2 },
        { id: 2, n: 2 },
      ]);
    });
  });

  describe('transactional per-event', () => {
    it('fails only the delivery whose handler timed out (its transaction rolled back); the others commit', async () => {
      quietWarnings();
      const { runners, seed } = await setUp({ handlerTimeoutMs: 200 });
      const deliveries = (await seed(['a', 'b', 'c'])).get('c1')!;
      const stuck = gate();
      try {
        const facts = await runners.runnerFor('per-event').run(
          batchOf(deliveries, 'per-event', async (event, ctx) => {
            await effect(event, ctx, fx.pool);
            if (event.payload.key === 'b#1') await stuck.promise;
          }),
        );
        expect(kinds(facts)).toEqual(['handled', 'failed', 'handled']);
        expect((facts[1] as { error: string }).error).toMatch(/^HandlerTimeoutError: /);
        expect(await effects()).toEqual(['a#0', 'c#2']);
        expect((await deliveryRows()).map((r) => r.status)).toEqual([
          'processed',
          'processing',
          'processed',
        ]);
      } finally {
        stuck.open();
      }
    });
  });

  describe('transactional false', () => {
    it('runs handlers without a transaction and does not mark the delivery', async () => {
      const { runners, seed } = await setUp();
      const deliveries = (await seed(['a', 'b'])).get('c1')!;
      const txs: unknown[] = [];
      const facts = await runners.runnerFor(false).run(
        batchOf(deliveries, false, async (event, ctx) => {
          txs.push(ctx.tx);
          await effect(event, ctx, fx.pool);
        }),
      );
      expect(kinds(facts)).toEqual(['handled', 'handled']);
      expect(txs).toEqual([undefined, undefined]);
      expect(await effects()).toEqual(['a#0', 'b#1']);
      expect(await deliveryRows()).toEqual([
        { status: 'processing', attempt_count: 1, locked_by: WORKER },
        { status: 'processing', attempt_count: 1, locked_by: WORKER },
      ]);
    });
  });

  it('hands each consumer a read-only view of the event', async () => {
    quietWarnings();
    const { runners, seed } = await setUp();
    const deliveries = (await seed(['a'])).get('c1')!;
    const facts = await runners.runnerFor('per-event').run(
      batchOf(deliveries, 'per-event', async (event) => {
        (event.payload as { key: string }).key = 'changed';
      }),
    );
    expect(facts[0]).toMatchObject({ kind: 'failed', error: expect.stringMatching(/TypeError/) });
    expect(deliveries[0]!.event.payload).toEqual({ key: 'a#0' });
  });
});

/** Resolves once `parties` callers are waiting, so that each holds its first lock meanwhile. */
function barrier(parties: number): () => Promise<void> {
  let arrived = 0;
  const all = gate();
  return async () => {
    if (++arrived >= parties) all.open();
    await all.promise;
  };
}
