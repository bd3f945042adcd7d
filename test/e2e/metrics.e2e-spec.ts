import { Registry } from 'prom-client';
import {
  EventSubscriberRegistry,
  InvalidIntegrationOptionsError,
  OutboxProcessor,
  type IntegrationMetricsOptions,
} from '../../src/integration';
import { BacklogSnapshot } from '../../src/integration/observability/backlog-snapshot';
import { DeliveryPipeline } from '../../src/integration/processing/delivery-pipeline';
import { CaptureLogger } from '../support/capture-logger';
import { noRetryDelay, thingEvent } from '../support/effect-fixture';
import {
  createIntegrationApp,
  publishAll,
  registerCatchAll,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { samples } from '../support/prometheus-text';
import { waitFor } from '../support/wait-for';

/** The samples whose name starts with `prefix`, as a plain object (for exact assertions). */
function only(all: Map<string, number>, prefix: string): Record<string, number> {
  return Object.fromEntries([...all].filter(([key]) => key.startsWith(prefix)));
}

/** Each metric's TYPE line: `name` → type. */
function types(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.slice('# TYPE '.length).split(' ') as [string, string]),
  );
}

const metricsApp = (url: string, metrics: IntegrationMetricsOptions, processor = {}) =>
  createIntegrationApp(url, { integration: { metrics, processor } });

describe('metrics (issue 14)', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db.drop();
  });

  describe('after a known workload', () => {
    let t: IntegrationTestApp;
    const registry = new Registry();

    beforeAll(async () => {
      t = await metricsApp(db.url, { registry });
      const subscribers = t.app.get(EventSubscriberRegistry);
      registerCatchAll(subscribers, async () => undefined, { name: 'ok' });
      const failedOnce = new Set<string>();
      registerCatchAll(
        subscribers,
        async (event) => {
          if (failedOnce.has(event.id)) return;
          failedOnce.add(event.id);
          throw new Error('first attempt fails');
        },
        { name: 'flaky', retry: noRetryDelay },
      );
      registerCatchAll(
        subscribers,
        async () => {
          throw new Error('always');
        },
        { name: 'doomed', retry: { maxAttempts: 1 } },
      );
      await publishAll(
        t,
        ['1', '2', '3'].map((k) => thingEvent('thing.done', k)),
      );
      await t.app.get(OutboxProcessor).drain();
    });
    afterAll(async () => {
      await t.close();
    });

    it('exports every metric with the workload’s exact counts and labels', async () => {
      const text = await registry.metrics();
      expect(types(text)).toEqual({
        integration_events_published_total: 'counter',
        integration_events_sequenced_total: 'counter',
        integration_claims_total: 'counter',
        integration_claim_batch_size: 'histogram',
        integration_deliveries_total: 'counter',
        integration_handler_duration_seconds: 'histogram',
        integration_time_in_outbox_seconds: 'histogram',
        integration_lease_losses_total: 'counter',
        integration_listener_connected: 'gauge',
        integration_backlog: 'gauge',
        integration_dead_letters: 'gauge',
        integration_oldest_due_age_seconds: 'gauge',
      });
      const all = samples(text);
      expect(only(all, 'integration_events_')).toEqual({
        'integration_events_published_total{event_name="thing.done"}': 3,
        integration_events_sequenced_total: 3,
      });
      expect(only(all, 'integration_deliveries_total')).toEqual({
        'integration_deliveries_total{consumer="ok",outcome="processed"}': 3,
        'integration_deliveries_total{consumer="flaky",outcome="retried"}': 3,
        'integration_deliveries_total{consumer="flaky",outcome="processed"}': 3,
        'integration_deliveries_total{consumer="doomed",outcome="dead_lettered"}': 3,
      });
      // One claim of the 9 first deliveries (with the sequencer's run), one of the 3 retries.
      expect(all.get('integration_claims_total')).toBe(2);
      expect(all.get('integration_claim_batch_size_count')).toBe(2);
      expect(all.get('integration_claim_batch_size_sum')).toBe(12);
      expect(all.get('integration_claim_batch_size_bucket{le="5"}')).toBe(1);
      expect(all.get('integration_claim_batch_size_bucket{le="10"}')).toBe(2);
      // Handlers ran 3 (ok) + 6 (flaky) + 3 (doomed) times; only processed deliveries count in
      // the time in outbox (a consumer's series exist, at 0, from its first event on).
      expect(only(all, 'integration_handler_duration_seconds_count')).toEqual({
        'integration_handler_duration_seconds_count{consumer="ok"}': 3,
        'integration_handler_duration_seconds_count{consumer="flaky"}': 6,
        'integration_handler_duration_seconds_count{consumer="doomed"}': 3,
      });
      expect(only(all, 'integration_time_in_outbox_seconds_count')).toEqual({
        'integration_time_in_outbox_seconds_count{consumer="ok"}': 3,
        'integration_time_in_outbox_seconds_count{consumer="flaky"}': 3,
        'integration_time_in_outbox_seconds_count{consumer="doomed"}': 0,
      });
      expect(all.get('integration_time_in_outbox_seconds_bucket{consumer="ok",le="+Inf"}')).toBe(3);
      expect(
        all.get('integration_handler_duration_seconds_bucket{consumer="doomed",le="30"}'),
      ).toBe(3);
      const waited = all.get('integration_time_in_outbox_seconds_sum{consumer="flaky"}')!;
      expect(waited).toBeGreaterThan(0);
      expect(waited).toBeLessThan(60);
      expect(only(all, 'integration_lease_losses_total')).toEqual({});
      expect(all.get('integration_listener_connected')).toBe(0);
      // Scrape-time gauges from the backlog read: nothing pending after the drain.
      expect(only(all, 'integration_backlog')).toEqual({
        'integration_backlog{consumer="doomed",status="pending"}': 0,
        'integration_backlog{consumer="doomed",status="processing"}': 0,
        'integration_backlog{consumer="flaky",status="pending"}': 0,
        'integration_backlog{consumer="flaky",status="processing"}': 0,
        'integration_backlog{consumer="ok",status="pending"}': 0,
        'integration_backlog{consumer="ok",status="processing"}': 0,
      });
      expect(only(all, 'integration_dead_letters')).toEqual({
        'integration_dead_letters{consumer="doomed"}': 3,
        'integration_dead_letters{consumer="flaky"}': 0,
        'integration_dead_letters{consumer="ok"}': 0,
      });
      expect(only(all, 'integration_oldest_due_age_seconds')).toEqual({
        'integration_oldest_due_age_seconds{consumer="doomed"}': 0,
        'integration_oldest_due_age_seconds{consumer="flaky"}': 0,
        'integration_oldest_due_age_seconds{consumer="ok"}': 0,
      });
    });

    it('shows due deliveries waiting in the backlog gauges, read at scrape time', async () => {
      await publishAll(t, [thingEvent('thing.done', '4')]);
      // The sequencer fans out without claiming: the deliveries wait, due.
      await t.app.get(DeliveryPipeline).sequence();
      // A fresh read now: the scrape shares it (instead of one cached before the sequencer ran).
      await t.app.get(BacklogSnapshot).read(0);
      const all = samples(await registry.metrics());
      expect(all.get('integration_backlog{consumer="ok",status="pending"}')).toBe(1);
      expect(all.get('integration_backlog{consumer="flaky",status="pending"}')).toBe(1);
      expect(all.get('integration_oldest_due_age_seconds{consumer="ok"}')).toBeGreaterThan(0);
      expect(all.get('integration_events_sequenced_total')).toBe(4);
      await t.app.get(OutboxProcessor).drain();
    });

    it('leaves the backlog gauges out while their read fails, warns once, and keeps the rest', async () => {
      const capture = new CaptureLogger();
      t.app.useLogger(capture);
      await withPool(db.url, (pool) =>
        pool.query('alter table integration_delivery rename to integration_delivery_away'),
      );
      try {
        // Drops the snapshot cached by earlier scrapes: a failed read is not kept.
        await expect(t.app.get(BacklogSnapshot).read(0)).rejects.toThrow(/integration_delivery/);
        const first = samples(await registry.metrics());
        const second = samples(await registry.metrics());
        for (const all of [first, second]) {
          expect(only(all, 'integration_backlog')).toEqual({});
          expect(only(all, 'integration_dead_letters')).toEqual({});
          expect(only(all, 'integration_oldest_due_age_seconds')).toEqual({});
          expect(all.get('integration_events_published_total{event_name="thing.done"}')).toBe(4);
        }
      } finally {
        await withPool(db.url, (pool) =>
          pool.query('alter table integration_delivery_away rename to integration_delivery'),
        );
      }
      expect(capture.matching(/Backlog metrics could not be read/)).toEqual([
        expect.objectContaining({ level: 'warn', context: 'IntegrationMetrics' }),
      ]);
      const back = samples(await registry.metrics());
      expect(back.get('integration_dead_letters{consumer="doomed"}')).toBe(4);
      expect(capture.matching(/readable again/)).toHaveLength(1);
    });
  });

  it('keeps two apps’ metrics apart, and frees the names at close for the next app', async () => {
    const registryA = new Registry();
    const registryB = new Registry();
    const a = await metricsApp(db.url, { registry: registryA });
    const b = await metricsApp(db.url, { registry: registryB, prefix: 'b_' });
    let c: IntegrationTestApp | undefined;
    try {
      await publishAll(a, [thingEvent('a.done', '1'), thingEvent('a.done', '2')]);
      await publishAll(b, [thingEvent('b.done', '1')]);
      expect(only(samples(await registryA.metrics()), 'integration_events_published')).toEqual({
        'integration_events_published_total{event_name="a.done"}': 2,
      });
      expect(only(samples(await registryB.metrics()), 'b_events_published')).toEqual({
        'b_events_published_total{event_name="b.done"}': 1,
      });
      // A second open app on the same registry and prefix is refused with how to fix it.
      await expect(metricsApp(db.url, { registry: registryA })).rejects.toThrow(
        InvalidIntegrationOptionsError,
      );
      await expect(metricsApp(db.url, { registry: registryA })).rejects.toThrow(
        /Give each app its own Registry, or a different metrics.prefix/,
      );

      await a.close();
      expect(await registryA.getMetricsAsJSON()).toEqual([]);
      c = await metricsApp(db.url, { registry: registryA });
      await publishAll(c, [thingEvent('c.done', '1')]);
      expect(only(samples(await registryA.metrics()), 'integration_events_published')).toEqual({
        'integration_events_published_total{event_name="c.done"}': 1,
      });
    } finally {
      await a.close();
      await b.close();
      await c?.close();
    }
  });

  it('labels published events and deliveries by tenant when tenantLabel is on', async () => {
    const registry = new Registry();
    // A database of its own: events the other tests left unsequenced would reach these consumers.
    const own = await createTestDatabase();
    const t = await metricsApp(own.url, { registry, tenantLabel: true });
    try {
      const subscribers = t.app.get(EventSubscriberRegistry);
      registerCatchAll(subscribers, async () => undefined, { name: 'by-tenant-ok' });
      registerCatchAll(
        subscribers,
        async () => {
          throw new Error('always');
        },
        { name: 'by-tenant-doomed', retry: { maxAttempts: 1 } },
      );
      const tenant = (key: string, tenantId?: string) => ({
        ...thingEvent('tenant.done', key),
        ...(tenantId ? { tenantId } : {}),
      });
      await publishAll(t, [tenant('1', 'acme'), tenant('2', 'acme'), tenant('3', 'globex')]);
      // One event alone (the one-event statement), without a tenant.
      await publishAll(t, [tenant('4')]);
      await t.app.get(OutboxProcessor).drain();
      const all = samples(await registry.metrics());
      expect(only(all, 'integration_events_published')).toEqual({
        'integration_events_published_total{event_name="tenant.done",tenant="acme"}': 2,
        'integration_events_published_total{event_name="tenant.done",tenant="globex"}': 1,
        'integration_events_published_total{event_name="tenant.done",tenant=""}': 1,
      });
      const d = 'integration_deliveries_total';
      expect(only(all, d)).toEqual({
        [`${d}{consumer="by-tenant-ok",outcome="processed",tenant="acme"}`]: 2,
        [`${d}{consumer="by-tenant-ok",outcome="processed",tenant="globex"}`]: 1,
        [`${d}{consumer="by-tenant-ok",outcome="processed",tenant=""}`]: 1,
        [`${d}{consumer="by-tenant-doomed",outcome="dead_lettered",tenant="acme"}`]: 2,
        [`${d}{consumer="by-tenant-doomed",outcome="dead_lettered",tenant="globex"}`]: 1,
        [`${d}{consumer="by-tenant-doomed",outcome="dead_lettered",tenant=""}`]: 1,
      });
      // The other metrics keep their labels: per consumer, never per tenant.
      expect(only(all, 'integration_handler_duration_seconds_count')).toEqual({
        'integration_handler_duration_seconds_count{consumer="by-tenant-ok"}': 4,
        'integration_handler_duration_seconds_count{consumer="by-tenant-doomed"}': 4,
      });
    } finally {
      await t.close();
      await own.drop();
    }
  });

  it('reports the LISTEN connection as 1 while it is up', async () => {
    const registry = new Registry();
    const t = await metricsApp(
      db.url,
      { registry },
      { enabled: true, startupDrain: false, idlePollIntervalMs: 50 },
    );
    try {
      await waitFor(
        async () => samples(await registry.metrics()).get('integration_listener_connected') === 1,
        10_000,
        'the listener gauge to be 1',
      );
    } finally {
      await t.close();
    }
  });

  it('refuses invalid metrics options at bootstrap, saying how to fix them', async () => {
    await expect(
      metricsApp(db.url, {
        registry: {} as IntegrationMetricsOptions['registry'],
        prefix: '9bad',
        handlerDurationBuckets: [1, 0.5],
      }),
    ).rejects.toThrow(
      /metrics.registry must be a prom-client Registry[\s\S]*metrics.prefix must be empty or[\s\S]*metrics.handlerDurationBuckets must be/,
    );
  });
});
