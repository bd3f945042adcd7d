import {
  InvalidIntegrationOptionsError,
  OutboxProcessor,
  type MetricsRegistry,
} from '../../src/integration';
import { thingEvent } from '../support/effect-fixture';
import { createIntegrationApp, publishAll, registerCatchAll } from '../support/integration-app';
import { EventSubscriberRegistry } from '../../src/integration';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

// As in an app that never installed the optional peer: requiring it fails like Node does, and
// every attempt is counted.
const mockPromLoads = { count: 0 };
jest.mock('prom-client', () => {
  mockPromLoads.count++;
  throw Object.assign(new Error("Cannot find module 'prom-client' from 'app'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

describe('metrics: prom-client is an optional peer (issue 14)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('without the metrics option, boots and delivers without ever loading prom-client', async () => {
    const t = await createIntegrationApp(db.url);
    try {
      const seen: string[] = [];
      registerCatchAll(t.app.get(EventSubscriberRegistry), async (event) => {
        seen.push(event.id);
      });
      const ids = await publishAll(t, [thingEvent('thing.done', '1')]);
      await t.app.get(OutboxProcessor).drain();
      expect(seen).toEqual(ids);
    } finally {
      await t.close();
    }
    expect(mockPromLoads.count).toBe(0);
  });

  it('with the metrics option, fails the bootstrap with how to install it', async () => {
    const registry: MetricsRegistry = {
      registerMetric: () => undefined,
      getSingleMetric: () => undefined,
      removeSingleMetric: () => undefined,
    };
    const boot = createIntegrationApp(db.url, { integration: { metrics: { registry } } });
    await expect(boot).rejects.toThrow(InvalidIntegrationOptionsError);
    await expect(boot).rejects.toThrow(/npm install prom-client/);
    expect(mockPromLoads.count).toBe(1);
  });
});
