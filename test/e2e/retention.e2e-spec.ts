import { Pool } from 'pg';
import {
  ConsumerDirectory,
  EventNotFoundError,
  EventSubscriberRegistry,
  InboxService,
  IntegrationAdminService,
  IntegrationRetention,
  OutboxProcessor,
  RetentionWindowTooShortError,
  type ConsumerOptions,
  type IntegrationEventHandlerFn,
  type IntegrationModuleOptions,
  type PublishEventInput,
  type ProcessorOptions,
} from '../../src/integration';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { retentionLockKeys } from '../../src/integration/retention/integration-retention.service';
import {
  createIntegrationApp,
  publishAll,
  registerCatchAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor, waitForDrained } from '../support/wait-for';

/** Events published by the two-instance run (RETENTION_EVENTS overrides it for quick local runs). */
const TOTAL_EVENTS = Number(process.env.RETENTION_EVENTS ?? 200_000);

const ev = (key: string, n = 0): PublishEventInput => ({
  name: 'test.happened',
  aggregateType: 'Thing',
  aggregateId: key,
  payload: { n },
});

/** A short retry policy: horizon = 2 × (100 + max(1000, 1000)) = 2,200 ms. */
const SHORT_RETRY: ProcessorOptions = {
  leaseMs: 1_000,
  handlerTimeoutMs: 1_000,
  retry: { maxAttempts: 2, baseDelayMs: 50, maxDelayMs: 100 },
};
const HORIZON_MS = 2 * (100 + 1_000);

describe('retention (issue 15)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const apps: IntegrationTestApp[] = [];

  const boot = async (
    integration: Partial<IntegrationModuleOptions>,
    consumer?: { name?: string; handle?: IntegrationEventHandlerFn; options?: ConsumerOptions },
  ): Promise<IntegrationTestApp> => {
    const processor = integration.processor;
    // Booted with the processor off so the consumer is registered before it starts.
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: { ...integration, processor: { ...processor, enabled: false } },
    });
    apps.push(t);
    if (consumer) {
      registerCatchAll(t.app.get(EventSubscriberRegistry), consumer.handle, {
        ...consumer.options,
        name: consumer.name ?? 'all',
      });
    }
    if (processor?.enabled) await t.app.get(OutboxProcessor).start();
    return t;
  };

  const count = async (table: string, where = 'true'): Promise<number> =>
    Number((await pool.query(`select count(*)::int as n from ${table} where ${where}`)).rows[0].n);

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
    await pool.query('create table effect (event_id text primary key)');
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    await pool.query(
      'truncate outbox_event, inbox_event, effect, integration_delivery, integration_consumer, ' +
        'integration_consumer_host, integration_audit, integration_consumer_stats',
    );
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('refuses at bootstrap a purge age shorter than the retry horizon, naming both numbers', async () => {
    const attempt = (purge: ProcessorOptions['purge'], options: ConsumerOptions = {}) =>
      boot(
        { processor: { ...SHORT_RETRY, enabled: true, purge: { enabled: true, ...purge } } },
        { name: 'slow', options },
      );
    await expect(attempt({ olderThanMs: HORIZON_MS - 1 })).rejects.toThrow(
      new RetentionWindowTooShortError(
        'processor.purge.olderThanMs',
        HORIZON_MS - 1,
        HORIZON_MS,
        undefined,
      ),
    );
    // The inbox window defaults to olderThanMs, and may be set on its own.
    await expect(
      attempt({ olderThanMs: HORIZON_MS, inboxRetentionMs: 1_000 }),
    ).rejects.toBeInstanceOf(RetentionWindowTooShortError);
    // A consumer's own retry policy is longer: its horizon counts, and the error names it.
    const error = await attempt(
      { olderThanMs: HORIZON_MS },
      { retry: { maxAttempts: 5, maxDelayMs: 100 } },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetentionWindowTooShortError);
    expect((error as RetentionWindowTooShortError).horizonMs).toBe(5 * 1_100);
    expect((error as Error).message).toContain('consumer "slow"');
    expect((error as Error).message).toContain('at least 5500');
    // At the horizon it starts.
    const t = await attempt({ olderThanMs: HORIZON_MS });
    expect(t.app.get(OutboxProcessor).isRunning).toBe(true);
  });

  it('purges only with the lock: one instance at a time, the others skip', async () => {
    const options = { processor: { ...SHORT_RETRY, purge: { olderThanMs: HORIZON_MS } } };
    const a = await boot(options, { name: 'c' });
    const b = await boot(options, { name: 'c' });
    await publishAll(a, [ev('1'), ev('2')]);
    await a.app.get(OutboxProcessor).drain();
    await pool.query(`update outbox_event set created_at = now() - interval '1 hour'`);
    const ra = a.app.get(IntegrationRetention);
    const rb = b.app.get(IntegrationRetention);

    // Someone else (a DBA's session, or a third instance) holds the retention lock.
    const holder = await pool.connect();
    try {
      await holder.query('select pg_advisory_lock($1, $2)', [...retentionLockKeys('public')]);
      const both = await Promise.all([ra.runOnce(), rb.runOnce()]);
      expect(both.map((r) => r.ran)).toEqual([false, false]);
      expect(await count('outbox_event')).toBe(2);
      await holder.query('select pg_advisory_unlock($1, $2)', [...retentionLockKeys('public')]);
    } finally {
      holder.release();
    }
    // Two rounds at once: whichever gets the lock purges, the other skips or finds nothing.
    const rounds = await Promise.all([ra.runOnce(), rb.runOnce()]);
    expect(rounds.reduce((n, r) => n + r.events, 0)).toBe(2);
    expect(await count('outbox_event')).toBe(0);
    expect(await count('integration_delivery')).toBe(0);
    expect(ra.counters.skipped + rb.counters.skipped).toBeGreaterThanOrEqual(2);
  });

  it('never purges inside the dedupe window; a redelivery after the purge cannot run', async () => {
    const t = await boot(
      { processor: { ...SHORT_RETRY, purge: { olderThanMs: 60_000 } } },
      {
        name: 'fx',
        handle: async (e, ctx) => {
          await (ctx.tx as Pool).query('insert into effect values ($1)', [e.id]);
        },
      },
    );
    const retention = t.app.get(IntegrationRetention);
    const [id] = await publishAll(t, [ev('x')]);
    await t.app.get(OutboxProcessor).drain();
    expect(await count('effect')).toBe(1);

    // Processed, younger than the window: kept.
    expect((await retention.runOnce()).events).toBe(0);
    expect(await count('integration_delivery', `status = 'processed'`)).toBe(1);
    // Inside the window a redelivery finds its processed delivery: not taken, not run.
    expect(await t.app.get(OutboxProcessor).deliverNow(id!, 'fx')).toEqual({ kind: 'not-taken' });

    // Past the window: the event and its delivery go together...
    await pool.query(`update outbox_event set created_at = now() - interval '2 minutes'`);
    expect((await retention.runOnce()).events).toBe(1);
    expect(await count('integration_delivery')).toBe(0);
    // ...and nothing can deliver it again: no row to take, no event to replay or fan out.
    expect(await t.app.get(OutboxProcessor).deliverNow(id!, 'fx')).toEqual({ kind: 'not-taken' });
    await expect(t.app.get(IntegrationAdminService).replay(id!)).rejects.toBeInstanceOf(
      EventNotFoundError,
    );
    await t.app.get(OutboxProcessor).drain();
    expect(await count('effect')).toBe(1);
  });

  it('a claim that outlived its lease cannot commit after its event was purged', async () => {
    const t = await boot(
      { processor: { ...SHORT_RETRY, purge: { olderThanMs: HORIZON_MS } } },
      {
        name: 'fx',
        handle: async (e, ctx) => {
          await (ctx.tx as Pool).query('insert into effect values ($1)', [e.id]);
        },
      },
    );
    await publishAll(t, [ev('zombie')]);
    const pipeline = t.app.get(DeliveryPipeline);
    const hosted = await t.app.get(ConsumerDirectory).announceHosted();
    await pipeline.sequence();
    const batch = await pipeline.claim(hosted);
    expect(batch.deliveries).toHaveLength(1);
    // Meanwhile its lease expired, another instance processed it, and the event aged out.
    await pool.query(
      `update integration_delivery set status = 'processed', locked_by = null, locked_until = null,
              processed_at = now()`,
    );
    await pool.query(`update outbox_event set created_at = now() - interval '1 hour'`);
    expect((await t.app.get(IntegrationRetention).runOnce()).events).toBe(1);
    // The stalled claim finally runs its handler: its mark finds no row and its effects roll back.
    const result = await pipeline.complete(batch, () => false);
    expect(result.processed).toBe(0);
    expect(await count('effect')).toBe(0);
    expect(await count('integration_delivery')).toBe(0);
  });

  it('keeps inbox rows for the window: a redelivered outside message inside it is deduplicated', async () => {
    const t = await boot({ processor: { ...SHORT_RETRY, purge: { inboxRetentionMs: 60_000 } } });
    const inbox = t.app.get(InboxService);
    const key = { eventId: 'msg-1', consumer: 'billing' };
    let runs = 0;
    const run = () => inbox.runOnce(key, async () => void runs++);
    await run();
    expect((await t.app.get(IntegrationRetention).runOnce()).inbox).toBe(0);
    expect((await run()).executed).toBe(false);
    expect(runs).toBe(1);
    await pool.query(`update inbox_event set updated_at = now() - interval '2 minutes'`);
    expect((await t.app.get(IntegrationRetention).runOnce()).inbox).toBe(1);
    expect(await count('inbox_event')).toBe(0);
  });

  it('purges dead letters only when deadLetterRetentionMs is set', async () => {
    const failing: IntegrationEventHandlerFn = async () => {
      throw new Error('boom');
    };
    const purge = { olderThanMs: HORIZON_MS };
    const keep = await boot(
      { processor: { ...SHORT_RETRY, retry: { ...SHORT_RETRY.retry, maxAttempts: 1 }, purge } },
      { name: 'dl', handle: failing },
    );
    await publishAll(keep, [ev('d')]);
    await keep.app.get(OutboxProcessor).drain();
    await pool.query(
      `update integration_delivery set updated_at = now() - interval '400 days';
       update outbox_event set created_at = now() - interval '400 days'`,
    );
    const kept = await keep.app.get(IntegrationRetention).runOnce();
    expect(kept).toMatchObject({ ran: true, deadLetters: 0, events: 0 });
    expect(await count('integration_delivery', `status = 'dead_letter'`)).toBe(1);
    await keep.close();

    const drop = await boot({
      processor: { ...SHORT_RETRY, purge: { ...purge, deadLetterRetentionMs: 86_400_000 } },
    });
    const dropped = await drop.app.get(IntegrationRetention).runOnce();
    expect(dropped).toMatchObject({ deadLetters: 1, events: 1 });
    expect(await count('outbox_event')).toBe(0);
  });

  it('sums the stats rows of two instances', async () => {
    const seen = new Set<string>();
    const handle: IntegrationEventHandlerFn = async (e) => {
      // Every tenth event fails its first attempt (once across both instances).
      if ((e.payload as { n: number }).n % 10 === 0 && !seen.has(e.id)) {
        seen.add(e.id);
        throw new Error('first attempt fails');
      }
    };
    const options = {
      processor: {
        ...SHORT_RETRY,
        // Leases that outlast any stall of a loaded machine: a lease lost before its settle
        // would count that delivery's retry as a lease loss, and the sums would be off by one.
        leaseMs: 30_000,
        handlerTimeoutMs: 30_000,
        enabled: true,
        idlePollIntervalMs: 50,
        batchSize: 10,
        stats: { flushIntervalMs: 100 },
      },
    };
    const a = await boot(options, { name: 'c', handle });
    const b = await boot(options, { name: 'c', handle });
    await publishAll(
      a,
      Array.from({ length: 500 }, (_, n) => ev(`k${n % 50}`, n)),
    );
    await waitFor(
      async () => (await count('integration_delivery', `status = 'processed'`)) === 500,
      60_000,
      'all processed',
    );
    await a.close();
    await b.close();
    const { rows } = await pool.query<{
      workers: number;
      processed: number;
      retried: number;
      dead: number;
      latency_sum: number;
      latency_max: number;
    }>(
      `select count(distinct worker_id)::int as workers, sum(processed)::int as processed,
              sum(retried)::int as retried, sum(dead_lettered)::int as dead,
              sum(latency_ms_sum) as latency_sum, max(latency_ms_max) as latency_max
         from integration_consumer_stats where consumer_name = 'c'`,
    );
    expect(rows[0]).toMatchObject({ processed: 500, retried: 50, dead: 0 });
    expect(rows[0]!.workers).toBeGreaterThanOrEqual(1);
    expect(rows[0]!.latency_max).toBeGreaterThan(0);
    expect(rows[0]!.latency_sum).toBeGreaterThanOrEqual(rows[0]!.latency_max);
    const buckets = await pool.query(
      `select 1 from integration_consumer_stats where extract(second from bucket) <> 0`,
    );
    expect(buckets.rows).toEqual([]);
  });

  it(`keeps every table bounded with two instances purging and ${TOTAL_EVENTS} events over time`, async () => {
    // Five attempts (horizon 5 × 1,100 ms, under the age): with one-second leases, a loaded
    // machine can lose a lease or two, and a dead letter would keep its event forever.
    const ageMs = 6_000;
    const intervalMs = 1_000;
    const options = {
      processor: {
        ...SHORT_RETRY,
        retry: { ...SHORT_RETRY.retry, maxAttempts: 5 },
        enabled: true,
        idlePollIntervalMs: 100,
        batchSize: 500,
        concurrency: 2,
        stats: { flushIntervalMs: 1_000 },
        purge: {
          enabled: true,
          intervalMs,
          olderThanMs: ageMs,
          inboxRetentionMs: ageMs,
          auditRetentionMs: ageMs,
          statsRetentionMs: 60_000,
          batchSize: 5_000,
        },
      },
    };
    const a = await boot(options, { name: 'c' });
    const b = await boot(options, { name: 'c' });
    // Stats minutes older than their retention (written by instances long gone).
    await pool.query(
      `insert into integration_consumer_stats (bucket, consumer_name, worker_id, processed)
       select date_trunc('minute', now()) - m * interval '1 minute', 'c', 'gone', 1
         from generate_series(2, 200) m`,
    );
    // Rows older than the age plus a round (and the time to work off a round's backlog) must be gone.
    const graceMs = ageMs + 2 * intervalMs + 5_000;
    const phases = 4;
    const perPhase = TOTAL_EVENTS / phases;
    const chunk = 2_000;
    /** When each chunk was committed (after its events', inbox and audit rows' created_at). */
    const published: number[] = [];
    for (let phase = 0; phase < phases; phase++) {
      for (let i = 0; i < perPhase; i += chunk) {
        const events = Array.from({ length: chunk }, (_, n) => ev(`p${phase}k${n % 100}`, i + n));
        await publishAll(a, events);
        // Outside messages and operator actions arrive at their own rates.
        await pool.query(
          `insert into inbox_event (event_id, consumer_name, status, processed_at)
           select 'm-${phase}-${i}-' || g, 'billing', 'processed', now() from generate_series(1, 200) g;
           insert into integration_audit (action, actor) select 'replay', 'test' from generate_series(1, 20)`,
        );
        published.push(Date.now());
      }
      // How long a phase takes depends on the machine's load (the full suite runs beside it):
      // wait while the backlog shrinks, fail when it stops.
      // Counted per event, not per delivery: deliveries appear only as the sequencer fans events
      // out, so their count rises while it catches up.
      await waitForDrained(
        () =>
          count(
            'outbox_event e',
            `not exists (select 1 from integration_delivery d
                          where d.event_id = e.id and d.status = 'processed')`,
          ),
        60_000,
        `phase ${phase}`,
        async () =>
          (
            await pool.query(
              `select d.status, d.locked_by is not null as leased, d.locked_until < now() as expired,
                      e.id is null as event_gone, count(*)::int as n, min(d.available_at) as due
                 from integration_delivery d left join outbox_event e on e.id = d.event_id
                where d.status <> 'processed' group by 1, 2, 3, 4`,
            )
          ).rows,
      );
      await waitFor(
        async () =>
          (await count('outbox_event', `created_at < now() - interval '${graceMs} ms'`)) === 0 &&
          (await count('inbox_event', `updated_at < now() - interval '${graceMs} ms'`)) === 0 &&
          (await count('integration_audit', `created_at < now() - interval '${graceMs} ms'`)) === 0,
        graceMs + 10_000,
        `phase ${phase}: nothing past the age left`,
      );
      // The bound: the chunks committed within the grace period (rate × age), plus one.
      const since = Date.now() - graceMs;
      const chunks = published.filter((at) => at >= since).length + 1;
      expect(await count('outbox_event')).toBeLessThanOrEqual(chunks * chunk);
      expect(await count('integration_delivery')).toBeLessThanOrEqual(chunks * chunk);
      expect(await count('inbox_event')).toBeLessThanOrEqual(chunks * 200);
      expect(await count('integration_audit')).toBeLessThanOrEqual(chunks * 20);
      // One row per minute and instance (a run shorter than its retention keeps them all).
      expect(await count('integration_consumer_stats')).toBeLessThanOrEqual(2 * 5 + 2);
    }
    // Publishing stopped: everything ages out, every old stats minute is gone.
    await waitFor(
      async () =>
        (await count('outbox_event')) +
          (await count('integration_delivery')) +
          (await count('inbox_event')) +
          (await count('integration_audit')) ===
        0,
      graceMs + 10_000,
      'every table emptied by retention',
    );
    expect(await count('integration_consumer_stats', `worker_id = 'gone'`)).toBe(0);
    const ra = a.app.get(IntegrationRetention).counters;
    const rb = b.app.get(IntegrationRetention).counters;
    // Both tried; the lock shares the rounds (each instance's timer fires, only one purges at once).
    expect(ra.runs + ra.skipped).toBeGreaterThan(0);
    expect(rb.runs + rb.skipped).toBeGreaterThan(0);
    expect(ra.failed + rb.failed).toBe(0);
  }, 900_000);
});
