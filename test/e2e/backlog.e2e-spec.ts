import {
  EventSubscriberRegistry,
  IntegrationAdminService,
  OutboxProcessor,
} from '../../src/integration';
import { INTEGRATION_OPTIONS } from '../../src/integration/integration.constants';
import type { ResolvedIntegrationOptions } from '../../src/integration/integration.options';
import { BacklogSnapshot } from '../../src/integration/observability/backlog-snapshot';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { DeliveryRepository } from '../../src/integration/processing/delivery.repository';
import {
  createIntegrationApp,
  publishAll,
  registerCatchAll,
  type IntegrationTestApp,
} from '../support/integration-app';
import { thingEvent } from '../support/effect-fixture';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** The bounded backlog read that metrics scrapes and health checks share. */
describe('consumer backlog', () => {
  let db: TestDatabase;
  let t: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createIntegrationApp(db.url);
    const registry = t.app.get(EventSubscriberRegistry);
    registerCatchAll(registry, async () => undefined, { name: 'ok' });
    registerCatchAll(
      registry,
      async () => {
        throw new Error('always');
      },
      { name: 'bad', retry: { maxAttempts: 1 } },
    );
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  it('counts pending and dead-lettered deliveries per consumer, with how long the due ones wait', async () => {
    const admin = t.app.get(IntegrationAdminService);
    expect(await admin.getBacklog()).toEqual([]);

    await publishAll(
      t,
      ['1', '2', '3'].map((k) => thingEvent('thing.done', k)),
    );
    await t.app.get(OutboxProcessor).drain();
    // Two more, fanned out but not claimed: due and waiting.
    await publishAll(
      t,
      ['4', '5'].map((k) => thingEvent('thing.done', k)),
    );
    await t.app.get(DeliveryPipeline).sequence();

    const snapshot = t.app.get(BacklogSnapshot);
    const backlog = await snapshot.read(0);
    expect(backlog).toEqual([
      {
        consumer: 'bad',
        pending: 2,
        processing: 0,
        deadLetter: 3,
        oldestDueMs: expect.any(Number),
        oldestLeaseMs: null,
      },
      {
        consumer: 'ok',
        pending: 2,
        processing: 0,
        deadLetter: 0,
        oldestDueMs: expect.any(Number),
        oldestLeaseMs: null,
      },
    ]);
    expect(backlog[0]!.oldestDueMs).toBeGreaterThanOrEqual(0);

    // Counts stop at the cap; the due wait looks at the next deliveries in line only.
    const root = t.app.get<ResolvedIntegrationOptions>(INTEGRATION_OPTIONS).database.root;
    const capped = await t.app.get(DeliveryRepository).backlog(root, { cap: 1, lookahead: 1 });
    expect(capped.map((c) => [c.consumer, c.pending, c.deadLetter])).toEqual([
      ['bad', 1, 1],
      ['ok', 1, 0],
    ]);

    // Served from memory within its age: a claim made meanwhile shows only in a fresh read.
    const pipeline = t.app.get(DeliveryPipeline);
    const batch = await pipeline.claim(['ok']);
    expect(batch.deliveries).toHaveLength(2);
    expect(await snapshot.read(60_000)).toBe(backlog);
    const fresh = await snapshot.read(0);
    expect(fresh.find((c) => c.consumer === 'ok')).toEqual({
      consumer: 'ok',
      pending: 0,
      processing: 2,
      deadLetter: 0,
      oldestDueMs: null,
      oldestLeaseMs: expect.any(Number),
    });
    await pipeline.release(batch);
  });
});
