import { Pool } from 'pg';
import {
  ConsumerDirectory,
  EventSubscriberRegistry,
  IntegrationAdminService,
  JitterMode,
  MAX_TIMER_DELAY_MS,
  OutboxProcessor,
  type ConsumerOptions,
  type IntegrationEvent,
  type IntegrationEventHandlerFn,
  type IntegrationModuleOptions,
  type PublishEventInput,
} from '../../src/integration';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { DeliveryRepository } from '../../src/integration/processing/delivery.repository';
import { ConsumerRunners } from '../../src/integration/processing/runners/consumer-runners';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

const ev = (key: string, payload: Record<string, unknown> = {}): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload,
});

/** A fixed, checkable policy delay: every failure the processor's policy decides waits 60 s. */
const retry = { baseDelayMs: 60_000, maxDelayMs: 60_000, maxAttempts: 3, jitter: JitterMode.None };

/**
 * Registers consumer `name` with one handler for `pattern` (every event by default). Call it
 * before the processor's first cycle, which announces the consumers.
 */
function addConsumer(
  t: IntegrationTestApp,
  name: string,
  handle: IntegrationEventHandlerFn,
  options: ConsumerOptions = {},
  pattern = '**',
): void {
  const registry = t.app.get(EventSubscriberRegistry);
  registry.registerConsumer(name, options);
  registry.register({ consumer: name, pattern, name: `${name}.handle`, handle });
}

/** One consumer's delivery of one event, as stored. */
interface Row {
  event_id: string;
  consumer: string;
  status: string;
  attempt_count: number;
  locked_by: string | null;
  last_error: string | null;
  /** available_at - updated_at (both set by the settle's now()), in ms. */
  delay_ms: number;
}

describe('settle path and attempts accounting (hardening)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  const boot = async (
    integration: Partial<IntegrationModuleOptions>,
  ): Promise<IntegrationTestApp> => {
    const t = await createIntegrationApp(db.url, { orm: 'pg', integration });
    apps.push(t);
    return t;
  };
  /** Every delivery, keyed `<event id>/<consumer>`. */
  const rows = async (): Promise<Map<string, Row>> => {
    const result = await pool.query<Row>(
      `select event_id::text as event_id, consumer_name as consumer, status, attempt_count,
              locked_by, last_error,
              round(extract(epoch from available_at - updated_at) * 1000)::float8 as delay_ms
         from integration_delivery order by position, consumer_name`,
    );
    return new Map(result.rows.map((r) => [`${r.event_id}/${r.consumer}`, r]));
  };
  /** Waits (on the database clock) until no lease of `workerId` is still valid. */
  const leasesExpired = (workerId: string): Promise<boolean> =>
    waitFor(
      async () =>
        (
          await pool.query(
            'select 1 from integration_delivery where locked_by = $1 and locked_until >= now()',
            [workerId],
          )
        ).rowCount === 0,
      10_000,
      `the leases of ${workerId} to expire`,
    );
  /** Announces the app's consumers and fans the committed events out to them. */
  const fanOut = async (t: IntegrationTestApp): Promise<void> => {
    await t.app.get(ConsumerDirectory).announceHosted();
    await t.app.get(DeliveryPipeline).sequence();
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    while (apps.length) await apps.pop()!.close();
    await pool.query('drop trigger if exists refuse_settle on integration_delivery');
    await pool.query(
      'truncate outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it("a runner fact list of the wrong length fails the consumer's share as a whole, without stranding it (hardening #3)", async () => {
    const t = await boot({ processor: { retry } });
    addConsumer(t, 'c', () => undefined);
    let answer: unknown = [{ kind: 'handled', durationMs: 1 }];
    jest
      .spyOn(t.app.get(ConsumerRunners), 'runnerFor')
      .mockReturnValue({ run: async () => answer as never });
    await publishAll(t, [ev('a'), ev('b')]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, retried: 2 });
    expect([...(await rows()).values()].map((r) => [r.status, r.locked_by, r.last_error])).toEqual([
      ['pending', null, 'Runner of consumer c reported 1 facts for 2 deliveries'],
      ['pending', null, 'Runner of consumer c reported 1 facts for 2 deliveries'],
    ]);
    answer = undefined;
    await pool.query('update integration_delivery set available_at = now()');
    // Each is a retry now: claimed alone per key, both keys in one batch.
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, retried: 2 });
    expect(new Set([...(await rows()).values()].map((r) => r.last_error))).toEqual(
      new Set(['Runner of consumer c reported undefined for 2 deliveries']),
    );
  });

  it('the settle statement cannot overflow, whatever delay it is given (hardening #3)', async () => {
    const t = await boot({});
    addConsumer(t, 'c', () => undefined);
    const ids = await publishAll(t, [ev('a'), ev('b'), ev('c'), ev('d'), ev('e')]);
    await fanOut(t);
    const repository = t.app.get(DeliveryRepository);
    const root = t.orm.adapter.root;
    const claimed = await repository.claim(t.orm.adapter, 'direct', ['c'], 10, 60_000);
    expect(claimed).toHaveLength(5);
    const delays = [2_592_000_000, Number.NaN, Number.POSITIVE_INFINITY, -1, 1_500.4];
    const settled = await repository.settle(
      root,
      'direct',
      claimed.map((d, i) => ({
        eventId: d.eventId,
        consumer: d.consumer,
        attempt: d.attempt,
        decision: { action: 'retry', delayMs: delays[i]!, error: 'try later' },
      })),
    );
    expect(new Set(settled.map((k) => k.eventId))).toEqual(new Set(ids));
    const stored = await rows();
    expect(ids.map((id) => stored.get(`${id}/c`)!.delay_ms)).toEqual([
      MAX_TIMER_DELAY_MS,
      0,
      0,
      0,
      1_500,
    ]);
    expect([...stored.values()].every((r) => r.status === 'pending')).toBe(true);
  });

  it('a batch settle the database refuses is retried one by one: only the refused delivery waits for its lease (hardening #3)', async () => {
    // A real refusal by PostgreSQL for one row of the batch's settle statement.
    await pool.query(`
      create or replace function refuse_settle() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from outbox_event e where e.id = new.event_id and e.payload ? 'refuse') then
          raise exception 'settle refused for %', new.event_id;
        end if;
        return new;
      end $$`);
    await pool.query(`
      create trigger refuse_settle before update on integration_delivery for each row
        when (old.status = 'processing' and new.status <> 'processing')
        execute function refuse_settle()`);
    const dispatched: string[] = [];
    // A lease long enough that a loaded machine's heartbeat keeps it until the settle.
    const t = await boot({ processor: { workerId: 'settler', leaseMs: 1_000 } });
    // Without a transaction, the processed mark is the settle statement's to write.
    addConsumer(t, 'c', (e: IntegrationEvent) => void dispatched.push(e.id), {
      transactional: false,
    });
    const [a, refused, c] = await publishAll(t, [ev('a'), ev('b', { refuse: true }), ev('c')]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({
      claimed: 3,
      processed: 2,
      unsettled: 1,
      leaseLost: 0,
    });
    let stored = await rows();
    expect(stored.get(`${a}/c`)!.status).toBe('processed');
    expect(stored.get(`${c}/c`)!.status).toBe('processed');
    expect(stored.get(`${refused}/c`)).toMatchObject({
      status: 'processing',
      locked_by: 'settler',
    });

    // Once the database accepts it again, the delivery is claimed after its lease and settled.
    await pool.query('drop trigger refuse_settle on integration_delivery');
    await leasesExpired('settler');
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, processed: 1 });
    stored = await rows();
    expect(stored.get(`${refused}/c`)).toMatchObject({ status: 'processed', attempt_count: 2 });
    expect(dispatched.sort()).toEqual([a, refused, c, refused].sort());
  });

  describe('deliveries whose lease expired on their last attempt', () => {
    /** Claims everything due as a worker that then "dies": never settles, never heartbeats. */
    const ghostClaim = async (
      t: IntegrationTestApp,
      consumers: readonly string[],
      times: number,
    ): Promise<void> => {
      await fanOut(t);
      const repository = t.app.get(DeliveryRepository);
      for (let i = 0; i < times; i++) {
        const claimed = await repository.claim(t.orm.adapter, 'ghost', consumers, 100, 100);
        expect(claimed.length).toBeGreaterThan(0);
        await leasesExpired('ghost');
      }
    };

    it('are dead-lettered at the next claim without running their handlers (hardening #13)', async () => {
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 2 } } });
      const calls: string[] = [];
      addConsumer(t, 'crashy', (e: IntegrationEvent) => void calls.push(e.id));
      const [id] = await publishAll(t, [ev('crash')]);
      await fanOut(t);
      await pool.query("update integration_delivery set last_error = 'earlier failure'");
      await ghostClaim(t, ['crashy'], 2); // attempts 1 and 2 of 2 never end
      const processor = t.app.get(OutboxProcessor);
      expect(await processor.processBatch()).toMatchObject({ claimed: 1, deadLettered: 1 });
      expect(calls).toEqual([]);
      const row = (await rows()).get(`${id}/crashy`)!;
      expect(row).toMatchObject({ status: 'dead_letter', attempt_count: 3, locked_by: null });
      expect(row.last_error).toBe(
        'Dead-lettered for consumer crashy without running its handlers again: the lease of attempt 2 ' +
          '(the last of 2 allowed) expired before it was settled, and no attempt is left: the worker ' +
          'probably crashed or stalled while handling it (e.g. a handler that kills the process, exhausts ' +
          'its memory or blocks the event loop). Fix the cause, then replay the delivery. ' +
          'Previous error: earlier failure',
      );

      // Replayed, it gets its attempts back and runs.
      expect(await t.app.get(IntegrationAdminService).replay(id!)).toBe(1);
      expect(await processor.drain()).toMatchObject({ processed: 1 });
      expect(calls).toEqual([id]);
    });

    it('still run while an attempt is left, the last one included (hardening #13)', async () => {
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 2 } } });
      const calls: number[] = [];
      addConsumer(t, 'c', (_e, ctx) => void calls.push(ctx.attempt));
      await publishAll(t, [ev('x')]);
      await ghostClaim(t, ['c'], 1);
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({ processed: 1 });
      expect(calls).toEqual([2]);
    });

    it('are allowed the maxAttempts of their own consumer, whatever the other consumers allow (hardening #13)', async () => {
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 1 } } });
      const calls: string[] = [];
      addConsumer(
        t,
        'patient',
        (e: IntegrationEvent) => void calls.push(`patient:${e.aggregateId}`),
        { retry: { maxAttempts: 3 } },
        'test.*',
      );
      // The processor's policy (1 attempt); it also handles other.happened, which patient does not.
      addConsumer(
        t,
        'impatient',
        (e: IntegrationEvent) => void calls.push(`impatient:${e.aggregateId}`),
        {},
        '*.happened',
      );
      const processor = t.app.get(OutboxProcessor);

      const [third, other] = await publishAll(t, [
        ev('third'),
        { ...ev('other'), name: 'other.happened' },
      ]);
      await ghostClaim(t, ['patient', 'impatient'], 1);
      expect(await processor.processBatch()).toMatchObject({
        claimed: 3,
        processed: 1,
        deadLettered: 2,
      });
      // Attempt 2 of 3 for patient's delivery; attempt 2 of 1 for impatient's two.
      expect(calls).toEqual(['patient:third']);
      let stored = await rows();
      expect(stored.get(`${third}/patient`)!.status).toBe('processed');
      expect(stored.get(`${third}/impatient`)!.status).toBe('dead_letter');
      expect(stored.get(`${other}/impatient`)!.status).toBe('dead_letter');
      expect(stored.has(`${other}/patient`)).toBe(false);
      expect(stored.get(`${other}/impatient`)!.last_error).toContain(
        'the lease of attempt 1 (the last of 1 allowed) expired',
      );

      calls.length = 0;
      const [fourth] = await publishAll(t, [ev('fourth')]);
      await ghostClaim(t, ['patient', 'impatient'], 3);
      expect(await processor.processBatch()).toMatchObject({ claimed: 2, deadLettered: 2 });
      expect(calls).toEqual([]);
      stored = await rows();
      expect(stored.get(`${fourth}/patient`)!.last_error).toContain(
        'the lease of attempt 3 (the last of 3 allowed) expired',
      );
      expect(stored.get(`${fourth}/impatient`)!.last_error).toContain(
        'the lease of attempt 3 expired',
      );
    });

    it("use the processor's maxAttempts for a consumer without its own, and say so when maxAttempts was lowered (hardening #13)", async () => {
      const dispatched: string[] = [];
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 2 } } });
      addConsumer(t, 'c', (e: IntegrationEvent) => void dispatched.push(e.aggregateId));
      const [crashed, lowered] = await publishAll(t, [ev('crashed'), ev('lowered')]);
      await fanOut(t);
      // "lowered": failed twice under an earlier, higher maxAttempts and waits for its retry.
      await pool.query(
        "update integration_delivery set attempt_count = 2, last_error = 'boom', available_at = now() + interval '1 hour' where event_id = $1",
        [lowered],
      );
      await ghostClaim(t, ['c'], 2);
      await pool.query('update integration_delivery set available_at = now() where event_id = $1', [
        lowered,
      ]);
      const processor = t.app.get(OutboxProcessor);
      expect(await processor.processBatch()).toMatchObject({ claimed: 2, deadLettered: 2 });
      expect(dispatched).toEqual([]);
      const stored = await rows();
      expect(stored.get(`${crashed}/c`)!.last_error).toContain(
        'the lease of attempt 2 (the last of 2 allowed) expired',
      );
      expect(stored.get(`${lowered}/c`)!.last_error).toBe(
        'Dead-lettered for consumer c without running its handlers again: its 2 attempt(s) already ' +
          'reach the 2 now allowed (maxAttempts was lowered since). Fix the cause, then replay the ' +
          'delivery. Previous error: boom',
      );
    });
  });
});
