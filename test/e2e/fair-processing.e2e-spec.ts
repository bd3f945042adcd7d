import { Injectable } from '@nestjs/common';
import { Pool } from 'pg';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import {
  IntegrationConsumer,
  OnIntegrationEvent,
  OutboxProcessor,
  type IntegrationEvent,
} from '../../src/integration';
import {
  createIntegrationApp,
  publishAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { thingEvent } from '../support/effect-fixture';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

/** Tenants of the events handled, in the order their handlers ran. */
const handled: Array<string | null> = [];

@Injectable()
@IntegrationConsumer('fair')
class FairConsumer {
  @OnIntegrationEvent('tick.*')
  async on(event: IntegrationEvent): Promise<void> {
    handled.push(event.tenantId);
    await Promise.resolve();
  }
}

const NOISY = 3_000;

/**
 * Issue 16, acceptance 2 at the processor's level: a tenant's event committed behind another
 * tenant's backlog that the sequencer has not fanned out yet is not held until that backlog is
 * handled (the sequencer runs ahead of the handlers, and claims take tenants in turns).
 */
describe('fair processing across tenants (issue 16)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await app?.close();
    await pool.end();
    await db.drop();
  });

  it("handles a quiet tenant's event long before a noisy tenant's backlog committed before it", async () => {
    app = await createIntegrationApp(db.url, {
      integration: {
        processor: { enabled: true, workerId: 'fair', batchSize: 20, concurrency: 1 },
      },
      metadata: { providers: [FairConsumer] },
    });
    await publishAll(
      app,
      Array.from({ length: NOISY }, (_, i) => ({
        ...thingEvent('tick.noisy', `N${i}`),
        tenantId: 'noisy',
      })),
    );
    await publishAll(app, [{ ...thingEvent('tick.quiet', 'Q'), tenantId: 'quiet' }]);
    await waitFor(async () => handled.length === NOISY + 1, 60_000, 'every event handled');
    const noisyBefore = handled.indexOf('quiet');
    // Handled in the processor's order: at the handlers' pace the sequencer would reach the
    // quiet event only after the noisy backlog (all but its last batch) was handled.
    expect(noisyBefore).toBeGreaterThanOrEqual(0);
    expect(noisyBefore).toBeLessThan(NOISY / 2);
    const deliveries = await pool.query<{ n: number }>(
      `select count(*)::int as n from integration_delivery where status = 'processed' and claim_count = 1`,
    );
    expect(deliveries.rows[0]!.n).toBe(NOISY + 1);
  });

  it("runs a quiet tenant's delivery in its tenant's turn within a batch, not after the backlog", async () => {
    await app.close();
    handled.length = 0;
    app = await createIntegrationApp(db.url, {
      integration: { processor: { enabled: false, workerId: 'turns', batchSize: 50 } },
      metadata: { providers: [FairConsumer] },
    });
    await publishAll(
      app,
      Array.from({ length: 100 }, (_, i) => ({
        ...thingEvent('tick.noisy', `T${i}`),
        tenantId: 'noisy',
      })),
    );
    await publishAll(app, [{ ...thingEvent('tick.quiet', 'TQ'), tenantId: 'quiet' }]);
    const processor = app.app.get(OutboxProcessor);
    const result = await processor.processBatch();
    // One batch of 50: the tenants' first deliveries (the noisy one first, by position), then
    // the rest of the noisy tenant's. In position order the quiet one would run last.
    expect(result.claimed).toBe(50);
    expect(handled).toHaveLength(50);
    expect(handled.indexOf('quiet')).toBe(1);
  });

  it("fans out a quiet tenant's event committed behind a flood at once, not after it (the tenant lane)", async () => {
    await app.close();
    app = await createIntegrationApp(db.url, {
      integration: { processor: { enabled: false, workerId: 'lane', batchSize: 50 } },
      metadata: { providers: [FairConsumer] },
    });
    const noisy = await publishAll(
      app,
      Array.from({ length: 2_000 }, (_, i) => ({
        ...thingEvent('tick.noisy', `L${i}`),
        tenantId: 'noisy',
      })),
    );
    const fannedOut = async (ids: readonly string[]): Promise<number> =>
      (
        await pool.query<{ n: number }>(
          'SELECT count(*)::int AS n FROM integration_delivery WHERE event_id = ANY ($1::uuid[])',
          [ids],
        )
      ).rows[0]!.n;
    const pipeline = app.app.get(DeliveryPipeline);
    // The background run's limit is max(batchSize, 500): the flood opens a window.
    expect(await pipeline.sequenceOnce()).toMatchObject({ events: 500, more: true });
    const [quiet] = await publishAll(app, [
      { ...thingEvent('tick.quiet', 'LQ'), tenantId: 'quiet' },
    ]);
    // The next run: 500 more of the flood in commit order, and the quiet event in the lane (the
    // lane looks at the newest 500 events: the quiet one and 499 of the flood, which has more
    // waiting further back).
    expect(await pipeline.sequenceOnce()).toMatchObject({ events: 501, more: true });
    expect(await fannedOut([quiet!])).toBe(1);
    expect(await fannedOut(noisy)).toBe(1_000);
    await pipeline.sequence();
    expect(await fannedOut([...noisy, quiet!])).toBe(2_001);
  });
});

/** Holds every `tick.held` handler until released. */
let release: () => void = () => undefined;
let held = new Promise<void>((resolve) => (release = resolve));

@Injectable()
@IntegrationConsumer('slots')
class HeldConsumer {
  @OnIntegrationEvent('tick.held')
  async on(): Promise<void> {
    await held;
  }

  @OnIntegrationEvent('tick.free')
  async free(): Promise<void> {
    await Promise.resolve();
  }
}

describe('sequencing while every batch slot is taken (issue 16)', () => {
  let db: TestDatabase;
  let pool: Pool;
  let app: IntegrationTestApp | undefined;

  beforeEach(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterEach(async () => {
    release();
    await app?.close();
    app = undefined;
    await pool.end();
    await db.drop();
  });

  const withStatus = async (status: string): Promise<number> =>
    (
      await pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM integration_delivery WHERE status = $1',
        [status],
      )
    ).rows[0]!.n;
  const statusOf = async (eventId: string): Promise<string | undefined> =>
    (
      await pool.query<{ status: string }>(
        'SELECT status FROM integration_delivery WHERE event_id = $1',
        [eventId],
      )
    ).rows[0]?.status;

  /**
   * One slot, held by a batch of one `tick.held` delivery (full when `batchSize` is 1), of
   * tenant `tenantId` (`undefined`: no tenant, and no event with one published before).
   */
  const holdTheOnlySlot = async (
    batchSize: number,
    tenantId: string | undefined,
  ): Promise<IntegrationTestApp> => {
    held = new Promise<void>((resolve) => (release = resolve));
    app = await createIntegrationApp(db.url, {
      integration: {
        processor: {
          enabled: true,
          workerId: 'slots',
          concurrency: 1,
          batchSize,
          idlePollIntervalMs: 100,
        },
      },
      metadata: { providers: [HeldConsumer] },
    });
    await publishAll(app, [
      { ...thingEvent('tick.held', 'H1'), ...(tenantId ? { tenantId } : {}) },
    ]);
    await waitFor(
      async () => (await withStatus('processing')) === 1,
      10_000,
      'the first batch holds the slot',
    );
    return app;
  };

  it('fans out events committed meanwhile when the slot holds a full batch', async () => {
    const running = await holdTheOnlySlot(1, 'noisy');
    // Committed while the only slot holds a full batch: sequenced now, claimed when it frees.
    // On the held event's key (the same tenant and aggregate): the tenant lane, which runs a
    // light tenant's deliveries at once beside the slots, cannot take it either.
    await publishAll(running, [{ ...thingEvent('tick.held', 'H1'), tenantId: 'noisy' }]);
    await waitFor(
      async () => (await withStatus('pending')) === 1,
      10_000,
      'the second event fanned out while the first batch runs',
    );
    expect(await withStatus('processing')).toBe(1);
    release();
    await waitFor(async () => (await withStatus('processed')) === 2, 10_000, 'both handled');
  });

  it("runs a light tenant's event that the tenant lane fans out at once, beside the full batch that holds the slot", async () => {
    const running = await holdTheOnlySlot(1, 'noisy');
    // The sequencer row held, so that nothing is sequenced until both are committed: a flood
    // longer than a run's limit (500), then a quiet tenant's event.
    const lock = await pool.connect();
    let quiet: string | undefined;
    try {
      await lock.query('BEGIN');
      await lock.query('SELECT 1 FROM integration_sequencer WHERE id = 1 FOR UPDATE');
      await publishAll(
        running,
        Array.from({ length: 1_100 }, (_, i) => ({
          ...thingEvent('tick.held', `F${i}`),
          tenantId: 'noisy',
        })),
      );
      [quiet] = await publishAll(running, [{ ...thingEvent('tick.free', 'Q'), tenantId: 'quiet' }]);
    } finally {
      await lock.query('COMMIT');
      lock.release();
    }
    // The next wake-up (a poll) sequences ahead: the first run takes 500 of the flood and opens
    // a window; the next takes 500 more, and the quiet event in the lane, claimed, and runs it
    // while the flood's first batch still holds the only slot.
    await waitFor(
      async () => (await statusOf(quiet!)) === 'processed',
      10_000,
      'the quiet event handled while the slot is held',
    );
    // The flood's first delivery still holds the slot, and the quiet event ran alone.
    expect(await withStatus('processing')).toBe(1);
    expect(await withStatus('processed')).toBe(1);
    release();
    await waitFor(
      async () => (await withStatus('processed')) === 1_102,
      60_000,
      'every event handled',
    );
  });

  it('leaves events committed meanwhile to the run that claims them when the slot holds a partial batch', async () => {
    const running = await holdTheOnlySlot(2, 'noisy');
    await publishAll(running, [{ ...thingEvent('tick.held', 'H2'), tenantId: 'quiet' }]);
    // Its NOTIFY and five idle polls come and go while the slot is held: nothing fans it out.
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await withStatus('pending')).toBe(0);
    expect(await withStatus('processing')).toBe(1);
    release();
    // The slot frees: the loop's sequencer run fans the second event out and claims it.
    await waitFor(async () => (await withStatus('processed')) === 2, 10_000, 'both handled');
  });

  it('leaves events committed meanwhile to the run that claims them when no event has a tenant', async () => {
    const running = await holdTheOnlySlot(1, undefined);
    // A full batch holds the only slot, but sequencing ahead only serves tenants: without any,
    // the run that claims the event when the slot frees creates its delivery claimed.
    await publishAll(running, [thingEvent('tick.held', 'H2')]);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await withStatus('pending')).toBe(0);
    expect(await withStatus('processing')).toBe(1);
    release();
    await waitFor(async () => (await withStatus('processed')) === 2, 10_000, 'both handled');
  });
});
