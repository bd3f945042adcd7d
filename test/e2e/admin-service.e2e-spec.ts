import { Pool } from 'pg';
import {
  DeliveryStatus,
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationAdminService,
  OutboxProcessor,
} from '../../src/integration';
import {
  bootWithLogger as boot,
  CaptureLogger,
  orderEvent as ev,
  type Booted,
} from '../support/capture-logger';
import { createOrm, type OrmClients } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

describe('IntegrationAdminService implements the admin API in the Nest app (issue 15)', () => {
  let db: TestDatabase;
  let orm: OrmClients;
  let pool: Pool;
  let t: Booted;
  const logger = new CaptureLogger();
  let failing = true;
  const handled: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = createOrm('prisma', db.url);
    pool = new Pool({ connectionString: db.url, max: 2 });
    t = await boot(orm, logger);
    const registry = t.app.get(EventSubscriberRegistry);
    registry.registerConsumer('billing', { retry: { maxAttempts: 1 } });
    registry.register({
      consumer: 'billing',
      pattern: 'order.*',
      name: 'Billing.handle',
      handle: (event) => {
        if (failing) return Promise.reject(new Error('billing is down'));
        handled.push(event.id);
        return Promise.resolve();
      },
    });
  });
  afterAll(async () => {
    await t.close();
    await orm.close();
    await pool.end();
    await db.drop();
  });

  it('lists a real dead letter, replays it with an audit row, and the processor then delivers it', async () => {
    const admin = t.app.get(IntegrationAdminService);
    const processor = t.app.get(OutboxProcessor);
    const id = (await t.app
      .get(DomainEventPublisher)
      .publishStandalone(ev({ correlationId: 'c-1' })))!;
    expect((await processor.drain()).deadLettered).toBe(1);

    const page = await admin.listDeliveries({ consumer: 'billing' });
    expect(page.items).toEqual([
      expect.objectContaining({
        eventId: id,
        consumer: 'billing',
        status: DeliveryStatus.DeadLetter,
        lastError: expect.stringContaining('billing is down'),
        correlationId: 'c-1',
      }),
    ]);
    expect(await admin.countDeliveries()).toBe(1);
    expect((await admin.getEvent(id))!.deliveries).toHaveLength(1);
    const overview = await admin.getOverview();
    expect(overview.backlog).toEqual([
      expect.objectContaining({ consumer: 'billing', deadLetter: 1 }),
    ]);
    expect(overview.throughput).toEqual([]);

    failing = false;
    const result = await admin.replayDelivery(id, 'billing', { actor: 'alice', reason: 'fixed' });
    expect(result).toMatchObject({ action: 'replay', affected: 1 });
    expect(logger.matching(/Replayed 1 delivery \(actor "alice"/)).toHaveLength(1);
    await processor.drain();
    expect(handled).toEqual([id]);
    expect((await admin.findEvent(id))!.deliveries[0]!.status).toBe(DeliveryStatus.Processed);
    const audit = await admin.listAudit();
    expect(audit.items).toEqual([
      expect.objectContaining({
        id: result.auditId,
        action: 'replay',
        actor: 'alice',
        affected: 1,
      }),
    ]);
    const { rows } = await pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM integration_audit',
    );
    expect(rows[0]!.n).toBe(1);
  });
});
