import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  OutboxProcessor,
} from '../../src/integration';
import { IntegrationTracing } from '../../src/integration/observability/tracing/integration-tracing';
import {
  createIntegrationApp,
  inTransaction,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

// As in an app that never installed the optional peer: requiring it fails like Node does.
jest.mock('@opentelemetry/api', () => {
  throw Object.assign(new Error("Cannot find module '@opentelemetry/api' from 'app'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

describe('tracing without @opentelemetry/api installed', () => {
  let db: TestDatabase;
  let t: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await t?.close();
    await db.drop();
  });

  it('boots with tracing enabled (the default), records nothing and still fills in causation', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- what the module does
    expect(() => require('@opentelemetry/api')).toThrow(/Cannot find module '@opentelemetry\/api'/);
    t = await createIntegrationApp(db.url);
    expect(t.app.get(IntegrationTracing).active).toBe(false);
    const registry = t.app.get(EventSubscriberRegistry);
    const publisher = t.app.get(DomainEventPublisher);
    registry.registerConsumer('relay');
    registry.register({
      consumer: 'relay',
      pattern: 'order.placed',
      name: 'Relay.onPlaced',
      handle: async (_event, ctx) => {
        await publisher.publish(ctx.tx, {
          name: 'order.relayed',
          aggregateType: 'Order',
          aggregateId: '1',
          payload: {},
        });
      },
    });
    const placed = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, {
        name: 'order.placed',
        aggregateType: 'Order',
        aggregateId: '1',
        payload: {},
      }),
    );
    await t.app.get(OutboxProcessor).drain();
    const rows = await withPool(db.url, async (pool) => {
      const result = await pool.query<{ headers: Record<string, string> }>(
        'select headers from outbox_event order by seq',
      );
      return result.rows.map((r) => r.headers);
    });
    expect(rows).toEqual([{}, { correlationId: placed, causationId: placed }]);
  });
});
