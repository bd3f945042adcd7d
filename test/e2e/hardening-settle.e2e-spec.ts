import { Logger } from '@nestjs/common';
import { Pool } from 'pg';
import {
  EventSubscriberRegistry,
  JitterMode,
  OutboxProcessor,
  perEventDispatcher,
  type EventDispatcher,
  type IntegrationModuleOptions,
  type IntegrationEvent,
  type PublishEventInput,
} from '../../src/integration';
import { MAX_TIMER_DELAY_MS } from '../../src/integration/utils/retry';
import { OutboxRepository, SettleAction } from '../../src/integration/outbox/outbox.repository';
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

interface Row {
  id: string;
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
  const rows = async (): Promise<Map<string, Row>> => {
    const result = await pool.query<Row>(
      `select id::text as id, status, attempt_count, locked_by, last_error,
              round(extract(epoch from available_at - updated_at) * 1000)::float8 as delay_ms
         from outbox_event`,
    );
    return new Map(result.rows.map((r) => [r.id, r]));
  };
  /** Waits (on the database clock) until no lease of `workerId` is still valid. */
  const leasesExpired = (workerId: string): Promise<boolean> =>
    waitFor(
      async () =>
        (
          await pool.query(
            'select 1 from outbox_event where locked_by = $1 and locked_until >= now()',
            [workerId],
          )
        ).rowCount === 0,
      10_000,
      `the leases of ${workerId} to expire`,
    );

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
  });
  afterEach(async () => {
    jest.restoreAllMocks();
    while (apps.length) await apps.pop()!.close();
    await pool.query('drop trigger if exists refuse_settle on outbox_event');
    await pool.query('truncate outbox_event, inbox_event');
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('invalid dispatcher outcomes become failures; the valid ones of the batch are settled (hardening #3)', async () => {
    const answers: Record<string, unknown> = {
      ok1: { status: 'processed' },
      nan: { status: 'failed', error: 'nan delay', delayMs: Number.NaN },
      null: null,
      weird: { status: 'weird' },
      huge: { status: 'failed', error: 'come back in 30 days', delayMs: 2_592_000_000 },
      negative: { status: 'failed', error: 'negative delay', delayMs: -5 },
      infinite: { status: 'failed', error: 'infinite delay', delayMs: Number.POSITIVE_INFINITY },
      numericError: { status: 'failed', error: 42 },
      text: 'processed',
      proxy: new Proxy(
        {},
        {
          get() {
            throw new Error('trap');
          },
        },
      ),
      ok2: { status: 'processed' },
    };
    const dispatcher: EventDispatcher = {
      dispatchBatch: async (events) =>
        events.map((e) => answers[(e.payload as { kind: string }).kind]) as never,
    };
    const errors = jest.spyOn(Logger.prototype, 'error');
    const t = await boot({ dispatcher, processor: { retry } });
    const kinds = Object.keys(answers);
    const ids = await publishAll(
      t,
      kinds.map((kind) => ev(kind, { kind })),
    );
    const byKind = new Map(kinds.map((kind, i) => [kind, ids[i]!]));

    const result = await t.app.get(OutboxProcessor).processBatch();
    expect(result).toMatchObject({
      claimed: kinds.length,
      processed: 2,
      retried: kinds.length - 2,
      deadLettered: 0,
      leaseLost: 0,
      unsettled: 0,
    });

    const stored = await rows();
    const row = (kind: string): Row => stored.get(byKind.get(kind)!)!;
    for (const kind of ['ok1', 'ok2']) {
      expect(row(kind)).toMatchObject({ status: 'processed', last_error: null, locked_by: null });
    }
    for (const kind of kinds.filter((k) => !k.startsWith('ok'))) {
      expect(row(kind)).toMatchObject({ status: 'pending', attempt_count: 1, locked_by: null });
    }
    // The processor's policy decides the delay of every invalid outcome.
    for (const kind of [
      'nan',
      'null',
      'weird',
      'negative',
      'infinite',
      'numericError',
      'text',
      'proxy',
    ])
      expect(row(kind).delay_ms).toBe(60_000);
    // A valid but too long delay is clamped.
    expect(row('huge')).toMatchObject({
      delay_ms: MAX_TIMER_DELAY_MS,
      last_error: 'come back in 30 days',
    });
    expect(row('nan').last_error).toBe(
      'dispatcher returned an invalid outcome: delayMs must be a finite number >= 0 (got NaN); its error: nan delay',
    );
    expect(row('null').last_error).toMatch(/^dispatcher returned an invalid outcome: null \(/);
    expect(row('weird').last_error).toBe(
      `dispatcher returned an invalid outcome: status "weird" (expected 'processed', 'failed' or 'deferred')`,
    );
    expect(row('infinite').last_error).toContain('(got Infinity); its error: infinite delay');
    expect(row('negative').last_error).toContain('(got -5); its error: negative delay');
    expect(row('numericError').last_error).toBe(
      'dispatcher returned an invalid outcome: error must be a string (got 42)',
    );
    expect(row('text').last_error).toMatch(/^dispatcher returned an invalid outcome: "processed"/);
    expect(row('proxy').last_error).toBe(
      'dispatcher returned an invalid outcome: reading it threw Error: trap',
    );

    // Logged once for the batch, at error level.
    const logged = errors.mock.calls.filter(([message]) =>
      String(message).includes('invalid or clamped outcome(s)'),
    );
    expect(logged).toHaveLength(1);
    expect(String(logged[0]![0])).toContain(
      'Dispatcher returned 9 invalid or clamped outcome(s) in a batch of 11',
    );
  });

  it('an outcome list of the wrong length fails the batch as a whole, without stranding it (hardening #3)', async () => {
    let answer: unknown = [{ status: 'processed' }];
    const t = await boot({
      dispatcher: { dispatchBatch: async () => answer as never },
      processor: { retry },
    });
    await publishAll(t, [ev('a'), ev('b')]);
    const processor = t.app.get(OutboxProcessor);
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, retried: 2 });
    expect([...(await rows()).values()].map((r) => [r.status, r.last_error])).toEqual([
      [
        'pending',
        'Dispatcher failed: it returned 1 outcome(s) for 2 event(s) (expected an array with one outcome per event, in batch order)',
      ],
      [
        'pending',
        'Dispatcher failed: it returned 1 outcome(s) for 2 event(s) (expected an array with one outcome per event, in batch order)',
      ],
    ]);
    answer = undefined;
    await pool.query('update outbox_event set available_at = now()');
    expect(await processor.processBatch()).toMatchObject({ claimed: 2, retried: 2 });
    expect(new Set([...(await rows()).values()].map((r) => r.last_error))).toEqual(
      new Set([
        'Dispatcher failed: it returned undefined for 2 event(s) (expected an array with one outcome per event, in batch order)',
      ]),
    );
  });

  it('the settle statement cannot overflow, whatever delay it is given (hardening #3)', async () => {
    const t = await boot({});
    const ids = await publishAll(t, [ev('a'), ev('b'), ev('c'), ev('d'), ev('e')]);
    const repository = t.app.get(OutboxRepository);
    const root = t.orm.adapter.root;
    const claimed = await repository.claim(root, 'direct', 10, 60_000);
    expect(claimed).toHaveLength(5);
    const delays = [2_592_000_000, Number.NaN, Number.POSITIVE_INFINITY, -1, 1_500.4];
    const settled = await repository.settle(
      root,
      'direct',
      claimed.map((e, i) => ({
        id: e.id,
        attempt: e.attemptCount,
        action: SettleAction.Retry,
        delayMs: delays[i],
        error: 'try later',
      })),
    );
    expect(new Set(settled)).toEqual(new Set(ids));
    const stored = await rows();
    expect(ids.map((id) => stored.get(id)!.delay_ms)).toEqual([MAX_TIMER_DELAY_MS, 0, 0, 0, 1_500]);
    expect([...stored.values()].every((r) => r.status === 'pending')).toBe(true);
  });

  it('a batch settle the database refuses is retried one by one: only the refused event waits for its lease (hardening #3)', async () => {
    // A real refusal by PostgreSQL for one row of the batch's settle statement.
    await pool.query(`
      create or replace function refuse_settle() returns trigger language plpgsql as $$
      begin
        raise exception 'settle refused for %', new.id;
      end $$`);
    await pool.query(`
      create trigger refuse_settle before update on outbox_event for each row
        when (old.status = 'processing' and new.status <> 'processing' and new.payload ? 'refuse')
        execute function refuse_settle()`);
    const dispatched: string[] = [];
    const t = await boot({
      dispatcher: perEventDispatcher(async (e) => void dispatched.push(e.id)),
      processor: { workerId: 'settler', leaseMs: 100 },
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
    expect(stored.get(a!)!.status).toBe('processed');
    expect(stored.get(c!)!.status).toBe('processed');
    expect(stored.get(refused!)).toMatchObject({ status: 'processing', locked_by: 'settler' });

    // Once the database accepts it again, the event is claimed after its lease and settled.
    await pool.query('drop trigger refuse_settle on outbox_event');
    await leasesExpired('settler');
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, processed: 1 });
    stored = await rows();
    expect(stored.get(refused!)).toMatchObject({ status: 'processed', attempt_count: 2 });
    expect(dispatched.sort()).toEqual([a, refused, c, refused].sort());
  });

  describe('events whose lease expired on their last attempt', () => {
    /** Claims everything due as a worker that then "dies": never settles, never heartbeats. */
    const ghostClaim = async (t: IntegrationTestApp, times: number): Promise<void> => {
      const repository = t.app.get(OutboxRepository);
      for (let i = 0; i < times; i++) {
        const claimed = await repository.claim(t.orm.adapter.root, 'ghost', 100, 100);
        expect(claimed.length).toBeGreaterThan(0);
        await leasesExpired('ghost');
      }
    };

    it('are dead-lettered at the next claim without running their handlers (hardening #13)', async () => {
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 2 } } });
      const calls: string[] = [];
      t.app.get(EventSubscriberRegistry).register({
        pattern: 'test.happened',
        consumer: 'crashy',
        name: 'Crashy.handle',
        handle: (e: IntegrationEvent) => void calls.push(e.id),
      });
      const [id] = await publishAll(t, [ev('crash')]);
      await pool.query("update outbox_event set last_error = 'earlier failure'");
      await ghostClaim(t, 2); // attempts 1 and 2 of 2 never end
      const processor = t.app.get(OutboxProcessor);
      expect(await processor.processBatch()).toMatchObject({ claimed: 1, deadLettered: 1 });
      expect(calls).toEqual([]);
      const row = (await rows()).get(id!)!;
      expect(row).toMatchObject({ status: 'dead_letter', attempt_count: 3, locked_by: null });
      expect(row.last_error).toBe(
        'Dead-lettered without running its handlers again: the lease of attempt 2 (the last of 2 allowed) ' +
          'expired before it was settled, and no attempt is left: the worker probably crashed or stalled while handling it ' +
          '(e.g. a handler that kills the process, exhausts its memory or blocks the event loop). ' +
          'Fix the cause, then replay it with OutboxProcessor.replay(id) or replayDeadLetters(filter). ' +
          'Previous error: earlier failure',
      );

      // Replayed, it gets its attempts back and runs.
      expect(await processor.replay(id!)).toBe(true);
      expect(await processor.drain()).toMatchObject({ processed: 1 });
      expect(calls).toEqual([id]);
    });

    it('still run while an attempt is left, the last one included (hardening #13)', async () => {
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 2 } } });
      const calls: number[] = [];
      t.app.get(EventSubscriberRegistry).register({
        pattern: 'test.happened',
        consumer: 'c',
        name: 'C.handle',
        handle: (_e: IntegrationEvent, ctx) => void calls.push(ctx.attempt),
      });
      await publishAll(t, [ev('x')]);
      await ghostClaim(t, 1);
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({ processed: 1 });
      expect(calls).toEqual([2]);
    });

    it('are allowed the largest maxAttempts among the consumers that handle them (hardening #13)', async () => {
      const t = await boot({ processor: { retry: { ...retry, maxAttempts: 1 } } });
      const calls: string[] = [];
      const registry = t.app.get(EventSubscriberRegistry);
      registry.register({
        pattern: 'test.*',
        consumer: 'patient',
        name: 'Patient.handle',
        retry: { maxAttempts: 3 },
        handle: (e: IntegrationEvent) => void calls.push(`patient:${e.aggregateId}`),
      });
      registry.register({
        pattern: 'test.happened',
        consumer: 'impatient',
        name: 'Impatient.handle',
        handle: (e: IntegrationEvent) => void calls.push(`impatient:${e.aggregateId}`),
      });
      // Only the impatient consumer (processor policy: 1 attempt) handles this one.
      registry.register({
        pattern: 'other.happened',
        consumer: 'impatient',
        name: 'Impatient.other',
        handle: (e: IntegrationEvent) => void calls.push(`other:${e.aggregateId}`),
      });
      const processor = t.app.get(OutboxProcessor);

      const [third, other] = await publishAll(t, [
        ev('third'),
        { ...ev('other'), name: 'other.happened' },
      ]);
      await ghostClaim(t, 1);
      expect(await processor.processBatch()).toMatchObject({
        claimed: 2,
        processed: 1,
        deadLettered: 1,
      });
      // Attempt 2 of 3 for the patient consumer's event; attempt 2 of 1 for the other one.
      expect(calls.sort()).toEqual(['impatient:third', 'patient:third']);
      let stored = await rows();
      expect(stored.get(third!)!.status).toBe('processed');
      expect(stored.get(other!)!.status).toBe('dead_letter');
      expect(stored.get(other!)!.last_error).toContain(
        'the lease of attempt 1 (the last of 1 allowed) expired',
      );

      calls.length = 0;
      const [fourth] = await publishAll(t, [ev('fourth')]);
      await ghostClaim(t, 3);
      expect(await processor.processBatch()).toMatchObject({ claimed: 1, deadLettered: 1 });
      expect(calls).toEqual([]);
      stored = await rows();
      expect(stored.get(fourth!)!.last_error).toContain(
        'the lease of attempt 3 (the last of 3 allowed) expired',
      );
    });

    it("follow a custom dispatcher's maxAttempts, or the processor's when that answer is unusable (hardening #13)", async () => {
      const dispatched: string[] = [];
      const errors = jest.spyOn(Logger.prototype, 'error');
      const t = await boot({
        dispatcher: {
          ...perEventDispatcher(async (e) => {
            dispatched.push(e.aggregateId);
            throw new Error('still failing');
          }),
          maxAttempts: (e) => {
            if (e.aggregateId === 'throws') throw new Error('hook bug');
            return e.aggregateId === 'five' ? 5 : Number.NaN;
          },
        },
        processor: { retry: { ...retry, maxAttempts: 1 } },
      });
      await publishAll(t, [ev('five'), ev('throws'), ev('nan')]);
      await ghostClaim(t, 1);
      expect(await t.app.get(OutboxProcessor).processBatch()).toMatchObject({
        claimed: 3,
        retried: 1,
        deadLettered: 2,
      });
      // Attempt 2 of 5 runs and, failing without `final`, is retried; the others fall back to 1.
      expect(dispatched).toEqual(['five']);
      const messages = errors.mock.calls.map(([m]) => String(m));
      expect(messages.some((m) => m.includes('dispatcher.maxAttempts failed for event'))).toBe(
        true,
      );
      expect(messages.some((m) => m.includes('dispatcher.maxAttempts returned NaN'))).toBe(true);
    });

    it("use the processor's maxAttempts with a custom dispatcher, and say so when maxAttempts was lowered (hardening #13)", async () => {
      const dispatched: string[] = [];
      const t = await boot({
        dispatcher: perEventDispatcher(async (e) => void dispatched.push(e.aggregateId)),
        processor: { retry: { ...retry, maxAttempts: 2 } },
      });
      const [crashed, lowered] = await publishAll(t, [ev('crashed'), ev('lowered')]);
      // "lowered": failed twice under an earlier, higher maxAttempts and waits for its retry.
      await pool.query(
        "update outbox_event set attempt_count = 2, last_error = 'boom' where id = $1",
        [lowered],
      );
      await pool.query(
        "update outbox_event set available_at = now() + interval '1 hour' where id = $1",
        [lowered],
      );
      await ghostClaim(t, 2);
      await pool.query('update outbox_event set available_at = now() where id = $1', [lowered]);
      const processor = t.app.get(OutboxProcessor);
      expect(await processor.processBatch()).toMatchObject({ claimed: 2, deadLettered: 2 });
      expect(dispatched).toEqual([]);
      const stored = await rows();
      expect(stored.get(crashed!)!.last_error).toContain(
        'the lease of attempt 2 (the last of 2 allowed) expired',
      );
      expect(stored.get(lowered!)!.last_error).toBe(
        'Dead-lettered without running its handlers again: its 2 attempt(s) already reach the 2 now allowed ' +
          '(maxAttempts was lowered since). Fix the cause, then replay it with OutboxProcessor.replay(id) or ' +
          'replayDeadLetters(filter). Previous error: boom',
      );
    });
  });
});
