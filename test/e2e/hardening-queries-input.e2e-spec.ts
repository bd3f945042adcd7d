import { Pool } from 'pg';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationAdminService,
  InvalidEventIdError,
  InvalidQueryError,
  OutboxProcessor,
  type PublishEventInput,
  type ReplayDeliveriesFilter,
} from '../../src/integration';
import { closestMatch as closestKey } from '../../src/integration/utils/closest-match';
import {
  bootWithLogger as boot,
  CaptureLogger,
  orderEvent as ev,
  type Booted,
} from '../support/capture-logger';
import { createOrm, type OrmClients } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

describe('query and admin input (hardening #10)', () => {
  let db: TestDatabase;
  let orm: OrmClients;
  let pool: Pool;
  let t: Booted;
  let processor: OutboxProcessor;
  let admin: IntegrationAdminService;
  let publisher: DomainEventPublisher;

  /** Publishes `events` and lets the one consumer (which always fails, one attempt) dead-letter them. */
  const deadLetter = async (events: PublishEventInput[]): Promise<string[]> => {
    const ids: string[] = [];
    for (const e of events) ids.push((await publisher.publishStandalone(e))!);
    const drained = await processor.drain();
    expect(drained.deadLettered).toBe(events.length);
    return ids;
  };
  /** The consumer's delivery status per event id. */
  const statuses = async (): Promise<Record<string, string>> => {
    const { rows } = await pool.query<{ id: string; status: string }>(
      "select event_id::text as id, status from integration_delivery where consumer_name = 'refuser'",
    );
    return Object.fromEntries(rows.map((r) => [r.id, r.status]));
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = createOrm('pg', db.url);
    pool = new Pool({ connectionString: db.url, max: 2 });
    t = await boot(orm, new CaptureLogger());
    // One consumer that refuses everything on its only attempt: each event becomes its dead letter.
    const registry = t.app.get(EventSubscriberRegistry);
    registry.registerConsumer('refuser', { retry: { maxAttempts: 1 } });
    registry.register({
      consumer: 'refuser',
      pattern: 'order.*',
      name: 'Refuser.handle',
      handle: () => Promise.reject(new Error('refused')),
    });
    processor = t.app.get(OutboxProcessor);
    admin = t.app.get(IntegrationAdminService);
    publisher = t.app.get(DomainEventPublisher);
  });
  afterEach(async () => {
    // The consumer stays registered (this app announced it once); only events and deliveries go.
    await pool.query('truncate outbox_event, integration_delivery');
  });
  afterAll(async () => {
    await t.close();
    await orm.close();
    await pool.end();
    await db.drop();
  });

  it('findEvent and replay refuse an id that is not a UUID with InvalidEventIdError (hardening #10)', async () => {
    const [id] = await deadLetter([ev()]);
    for (const bad of ['not-a-uuid', '', `${id!}x`, ' ' + id!, 42, null, undefined]) {
      await expect(admin.findEvent(bad as string)).rejects.toBeInstanceOf(InvalidEventIdError);
      await expect(admin.replay(bad as string)).rejects.toBeInstanceOf(InvalidEventIdError);
    }
    await expect(admin.replay('not-a-uuid')).rejects.toThrow(
      /Invalid eventId: expected an outbox event id, a UUID .* got "not-a-uuid"/,
    );
    // Nothing changed; valid ids still work, in any case.
    expect(await statuses()).toEqual({ [id!]: 'dead_letter' });
    expect((await admin.findEvent(id!.toUpperCase()))?.event.id).toBe(id);
    expect(await admin.replay(id!)).toBe(1);
    expect(await statuses()).toEqual({ [id!]: 'pending' });
  });

  it('replayDeadLetters refuses an unknown filter key, naming the closest known one, and replays nothing (hardening #10)', async () => {
    const ids = await deadLetter([ev(), ev({ name: 'order.paid' })]);
    const attempt = admin.replayDeadLetters({ name: 'order.placed' } as ReplayDeliveriesFilter);
    await expect(attempt).rejects.toBeInstanceOf(InvalidQueryError);
    await expect(attempt).rejects.toThrow(
      "Invalid argument to replayDeadLetters: filter.name is not a known key (did you mean 'eventName'?)",
    );
    for (const [key, meant] of [
      ['tenant', 'tenantId'],
      ['aggregate_id', 'aggregateId'],
      ['type', 'aggregateType'],
      ['limt', 'limit'],
      ['EventName', 'eventName'],
      ['consumerName', 'consumer'],
      ['event_id', 'eventId'],
    ] as const) {
      await expect(
        admin.replayDeadLetters({ [key]: 'x' } as ReplayDeliveriesFilter),
      ).rejects.toThrow(`did you mean '${meant}'?`);
    }
    // An unknown key is refused even when its value is undefined.
    await expect(
      admin.replayDeadLetters({ eventname: undefined } as ReplayDeliveriesFilter),
    ).rejects.toBeInstanceOf(InvalidQueryError);
    expect(Object.values(await statuses())).toEqual(['dead_letter', 'dead_letter']);
    expect(ids).toHaveLength(2);
  });

  it('replayDeadLetters refuses a limit that is not an integer from 1 to 2^31-1, and bad field types (hardening #10)', async () => {
    const [first, second] = await deadLetter([ev(), ev({ aggregateId: '2' })]);
    for (const limit of [-1, 0, Number.NaN, 1.5, 2 ** 31, Infinity, '5', null]) {
      await expect(
        admin.replayDeadLetters({ limit } as unknown as ReplayDeliveriesFilter),
      ).rejects.toThrow(/filter\.limit must be an integer from 1 to 2147483647/);
    }
    for (const filter of [
      { eventName: 42 },
      { aggregateId: '' },
      { tenantId: 7 },
      { aggregateType: 'a\u0000b' },
      { consumer: 7 },
      { consumer: '' },
    ]) {
      await expect(
        admin.replayDeadLetters(filter as unknown as ReplayDeliveriesFilter),
      ).rejects.toBeInstanceOf(InvalidQueryError);
    }
    await expect(admin.replayDeadLetters({ eventId: 'not-a-uuid' })).rejects.toBeInstanceOf(
      InvalidEventIdError,
    );
    for (const filter of [[], 'eventName', 5]) {
      await expect(
        admin.replayDeadLetters(filter as unknown as ReplayDeliveriesFilter),
      ).rejects.toThrow('filter must be an object');
    }
    expect(Object.values(await statuses())).toEqual(['dead_letter', 'dead_letter']);
    // Valid limits work: the largest, and 1 (oldest first).
    expect(await admin.replayDeadLetters({ limit: 1 })).toBe(1);
    expect(await statuses()).toEqual({ [first!]: 'pending', [second!]: 'dead_letter' });
    expect(await admin.replayDeadLetters({ limit: 2_147_483_647 })).toBe(1);
    expect(await statuses()).toEqual({ [first!]: 'pending', [second!]: 'pending' });
  });

  it('replayDeadLetters: tenantId null means events without a tenant, absent means every tenant (hardening #10)', async () => {
    const [none, a, b] = await deadLetter([
      ev(),
      ev({ tenantId: 'A' }),
      ev({ tenantId: 'B', name: 'order.paid' }),
    ]);
    // Another consumer's or another event's filter replays nothing of these.
    expect(await admin.replayDeadLetters({ consumer: 'someone-else' })).toBe(0);
    expect(await admin.replayDeadLetters({ tenantId: null, eventId: a! })).toBe(0);
    expect(await admin.replayDeadLetters({ tenantId: null })).toBe(1);
    expect((await statuses())[none!]).toBe('pending');
    expect(await admin.replayDeadLetters({ tenantId: 'A', eventName: 'order.paid' })).toBe(0);
    expect(await admin.replayDeadLetters({ tenantId: 'A' })).toBe(1);
    expect((await statuses())[a!]).toBe('pending');
    expect(await admin.replayDeadLetters()).toBe(1);
    expect((await statuses())[b!]).toBe('pending');
  });

  it('findEventsByAggregate refuses bad arguments and unknown option keys (hardening #10)', async () => {
    await expect(admin.findEventsByAggregate('', '1')).rejects.toThrow(
      'Invalid argument to findEventsByAggregate: aggregateType must be 1 to 200 characters',
    );
    await expect(
      admin.findEventsByAggregate('Order', 1 as unknown as string),
    ).rejects.toBeInstanceOf(InvalidQueryError);
    await expect(
      admin.findEventsByAggregate('Order', '1', { tenant: 'A' } as never),
    ).rejects.toThrow("options.tenant is not a known key (did you mean 'tenantId'?)");
    await expect(
      admin.findEventsByAggregate('Order', '1', { tenantId: 5 } as never),
    ).rejects.toThrow('options.tenantId must be a string');
  });

  it('closestKey prefers a respelling, then a containing key, then the nearest (hardening #10)', () => {
    const known = ['eventName', 'aggregateType', 'aggregateId', 'tenantId', 'limit'];
    expect(closestKey('event_name', known)).toBe('eventName');
    expect(closestKey('name', known)).toBe('eventName');
    expect(closestKey('tenantIdentifier', known)).toBe('tenantId');
    expect(closestKey('lmit', known)).toBe('limit');
    expect(closestKey('x', known)).toBeDefined();
  });
});
