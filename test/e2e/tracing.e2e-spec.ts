import { context, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  AlwaysOffSampler,
  BasicTracerProvider,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  OutboxProcessor,
  type IntegrationModuleOptions,
} from '../../src/integration';
import { noRetryDelay } from '../support/effect-fixture';
import {
  createIntegrationApp,
  inTransaction,
  withPool,
  type IntegrationTestApp,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const SPAN_KIND_PRODUCER = 3;
const SPAN_KIND_CONSUMER = 4;
const STATUS_ERROR = 2;

interface StoredEvent {
  id: string;
  name: string;
  correlation_id: string | null;
  causation_id: string | null;
  headers: Record<string, string>;
}

async function storedEvents(url: string): Promise<StoredEvent[]> {
  return withPool(url, async (pool) => {
    const { rows } = await pool.query<StoredEvent>(
      'select id, event_name as name, correlation_id, causation_id, headers from outbox_event order by seq',
    );
    return rows;
  });
}

const orderPlaced = (over: Record<string, unknown> = {}) => ({
  name: 'order.placed',
  aggregateType: 'Order',
  aggregateId: '1',
  payload: {},
  ...over,
});

/**
 * An app whose consumer `billing` turns every `order.placed` into an `order.billed` (published
 * from the handler, in its transaction), and whose consumer `mailer` handles `order.billed`.
 */
async function bootRelay(
  db: TestDatabase,
  integration: Partial<IntegrationModuleOptions>,
  behaviour: { failFirstAttempt?: boolean; billed?: (event: { id: string }) => object } = {},
): Promise<IntegrationTestApp> {
  const t = await createIntegrationApp(db.url, { integration });
  const registry = t.app.get(EventSubscriberRegistry);
  const publisher = t.app.get(DomainEventPublisher);
  registry.registerConsumer('billing', { retry: noRetryDelay });
  registry.register({
    consumer: 'billing',
    pattern: 'order.placed',
    name: 'Billing.onPlaced',
    handle: async (event, ctx) => {
      if (behaviour.failFirstAttempt && ctx.attempt === 1) throw new Error('card declined');
      await publisher.publish(ctx.tx, {
        name: 'order.billed',
        aggregateType: 'Order',
        aggregateId: event.aggregateId,
        payload: {},
        ...behaviour.billed?.(event),
      });
    },
  });
  registry.registerConsumer('mailer', { retry: noRetryDelay });
  registry.register({
    consumer: 'mailer',
    pattern: 'order.billed',
    name: 'Mailer.onBilled',
    handle: async () => undefined,
  });
  return t;
}

/** Back to an empty outbox with no consumers, between the tests of this file's database. */
async function reset(db: TestDatabase): Promise<void> {
  await withPool(db.url, (pool) =>
    pool.query(
      'truncate outbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    ),
  );
}

async function drainAll(t: IntegrationTestApp): Promise<void> {
  const processor = t.app.get(OutboxProcessor);
  // Retries are due at once (noRetryDelay); a few rounds settle everything.
  for (let i = 0; i < 4; i++) await processor.drain();
}

// One database for the file; each test starts from an empty outbox without consumers.
let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

describe('correlation and causation of events published by handlers', () => {
  let t: IntegrationTestApp;

  afterEach(async () => {
    await t?.close();
    await reset(db);
  });

  it("gives the handled event's id as causation and its correlation id as correlation", async () => {
    t = await bootRelay(db, { tracing: { enabled: false } });
    const publisher = t.app.get(DomainEventPublisher);
    const withCorrelation = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, orderPlaced({ aggregateId: '1', correlationId: 'checkout-7' })),
    );
    const without = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, orderPlaced({ aggregateId: '2' })),
    );
    await drainAll(t);

    const rows = await storedEvents(db.url);
    const billed = rows.filter((r) => r.name === 'order.billed');
    expect(billed).toHaveLength(2);
    const of = (cause: string | null) => billed.find((r) => r.causation_id === cause)!;
    expect(of(withCorrelation)).toMatchObject({
      correlation_id: 'checkout-7',
      causation_id: withCorrelation,
      headers: { correlationId: 'checkout-7', causationId: withCorrelation },
    });
    // The handled event had no correlation id: its own id starts the conversation.
    expect(of(without)).toMatchObject({
      correlation_id: without,
      causation_id: without,
      headers: { correlationId: without, causationId: without },
    });
    // Outside any handler nothing is filled in.
    const placed = rows.find((r) => r.id === without)!;
    expect(placed).toMatchObject({ correlation_id: null, causation_id: null });
    expect(placed.headers).toEqual({});
  });

  it('is per module instance: a handler of one app publishing through another app fills nothing in', async () => {
    const other = await createIntegrationApp(db.url, {
      integration: { tracing: { enabled: false } },
    });
    try {
      t = await createIntegrationApp(db.url, { integration: { tracing: { enabled: false } } });
      const registry = t.app.get(EventSubscriberRegistry);
      const viaOther: (string | null)[] = [];
      registry.registerConsumer('bridge', { transactional: false });
      registry.register({
        consumer: 'bridge',
        pattern: 'order.placed',
        name: 'Bridge.onPlaced',
        handle: async () => {
          viaOther.push(
            await other.app
              .get(DomainEventPublisher)
              .publishStandalone({ ...orderPlaced(), name: 'order.bridged' }),
          );
        },
      });
      await inTransaction(t.orm, (tx) =>
        t.app.get(DomainEventPublisher).publish(tx, orderPlaced()),
      );
      await drainAll(t);
      expect(viaOther).toHaveLength(1);
      const bridged = (await storedEvents(db.url)).find((r) => r.id === viaOther[0])!;
      expect(bridged).toMatchObject({ correlation_id: null, causation_id: null, headers: {} });
    } finally {
      await other.close();
    }
  });

  it('keeps what the caller set', async () => {
    t = await bootRelay(
      db,
      { tracing: { enabled: false } },
      { billed: () => ({ correlationId: 'mine' }) },
    );
    const publisher = t.app.get(DomainEventPublisher);
    const placed = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, orderPlaced({ correlationId: 'theirs' })),
    );
    await drainAll(t);
    const billed = (await storedEvents(db.url)).find((r) => r.name === 'order.billed')!;
    // Each field on its own: the caller's correlation id, the default causation.
    expect(billed).toMatchObject({ correlation_id: 'mine', causation_id: placed });
  });
});

describe('OpenTelemetry tracing', () => {
  let t: IntegrationTestApp;
  let contextManager: AsyncLocalStorageContextManager;
  let exporter: InMemorySpanExporter;
  let provider: BasicTracerProvider;
  let tracer: Tracer;

  beforeAll(async () => {
    // The app's set-up, not the library's: a context manager, and a provider passed as option.
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  });
  afterAll(() => {
    context.disable();
  });
  beforeEach(() => {
    exporter = new InMemorySpanExporter();
    provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    tracer = provider.getTracer('test-app');
  });
  afterEach(async () => {
    await t?.close();
    await provider.shutdown();
    await reset(db);
  });

  const parentOf = (span: ReadableSpan) => span.parentSpanContext?.spanId;
  const idOf = (span: ReadableSpan) => span.spanContext().spanId;

  it('forms one trace: request → producer → consumer → second producer → second consumer', async () => {
    t = await bootRelay(db, { tracing: { tracerProvider: provider } }, { failFirstAttempt: true });
    const publisher = t.app.get(DomainEventPublisher);
    const placedId = await tracer.startActiveSpan('POST /orders', async (span) => {
      try {
        return await inTransaction(t.orm, (tx) => publisher.publish(tx, orderPlaced()));
      } finally {
        span.end();
      }
    });
    await drainAll(t);
    await t.close();

    const spans = exporter.getFinishedSpans();
    const named = (name: string) => spans.filter((s) => s.name === name);
    const [request] = named('POST /orders');
    const [producer1] = named('send order.placed');
    const consumers1 = named('process order.placed').sort(
      (a, b) =>
        Number(a.attributes['nestjs_integration.delivery.attempt']) -
        Number(b.attributes['nestjs_integration.delivery.attempt']),
    );
    const [producer2] = named('send order.billed');
    const [consumer2] = named('process order.billed');
    expect(request && producer1 && producer2 && consumer2).toBeTruthy();
    expect(consumers1).toHaveLength(2);
    const [failed, succeeded] = consumers1 as [ReadableSpan, ReadableSpan];

    // One trace.
    const traceId = request!.spanContext().traceId;
    for (const span of [producer1!, failed, succeeded, producer2!, consumer2!]) {
      expect(span.spanContext().traceId).toBe(traceId);
    }
    // Parents: request → producer → (each attempt's) consumer → second producer → consumer.
    expect(parentOf(producer1!)).toBe(idOf(request!));
    expect(parentOf(failed)).toBe(idOf(producer1!));
    expect(parentOf(succeeded)).toBe(idOf(producer1!));
    expect(parentOf(producer2!)).toBe(idOf(succeeded));
    expect(parentOf(consumer2!)).toBe(idOf(producer2!));
    // Links: each consumer span to its producer.
    expect(succeeded.links.map((l) => l.context.spanId)).toEqual([idOf(producer1!)]);
    expect(consumer2!.links.map((l) => l.context.spanId)).toEqual([idOf(producer2!)]);

    // Kinds and messaging attributes.
    expect(producer1!.kind).toBe(SPAN_KIND_PRODUCER);
    expect(producer1!.attributes).toMatchObject({
      'messaging.system': 'nestjs-integration',
      'messaging.operation.type': 'send',
      'messaging.destination.name': 'order.placed',
      'messaging.message.id': placedId,
    });
    expect(consumer2!.kind).toBe(SPAN_KIND_CONSUMER);
    const billed = (await storedEvents(db.url)).find((r) => r.name === 'order.billed')!;
    expect(consumer2!.attributes).toMatchObject({
      'messaging.system': 'nestjs-integration',
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'order.billed',
      'messaging.message.id': billed.id,
      'messaging.consumer.group.name': 'mailer',
      'messaging.message.conversation_id': placedId,
      'nestjs_integration.delivery.attempt': 1,
    });
    expect(producer2!.attributes).toMatchObject({
      'messaging.message.id': billed.id,
      'messaging.message.conversation_id': placedId,
    });

    // The failed attempt: exception, status ERROR, and the retry decision as a span event.
    expect(failed.status.code).toBe(STATUS_ERROR);
    expect(failed.events.map((e) => e.name)).toEqual(['exception', 'delivery.retry']);
    expect(failed.events[0]!.attributes?.['exception.message']).toBe('card declined');
    expect(succeeded.status.code).not.toBe(STATUS_ERROR);
    expect(succeeded.attributes['nestjs_integration.delivery.attempt']).toBe(2);

    // The stored headers carry the producer spans' contexts.
    const tp = (span: ReadableSpan) => `00-${traceId}-${idOf(span)}-01`;
    const placed = (await storedEvents(db.url)).find((r) => r.id === placedId)!;
    expect(placed.headers.traceparent).toBe(tp(producer1!));
    expect(billed.headers.traceparent).toBe(tp(producer2!));
    expect(billed).toMatchObject({ correlation_id: placedId, causation_id: placedId });
  });

  it('carries a sampled-out trace through handlers: same trace id, nothing recorded', async () => {
    const unsampled = new BasicTracerProvider({
      sampler: new ParentBasedSampler({ root: new AlwaysOffSampler() }),
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    try {
      t = await bootRelay(db, { tracing: { tracerProvider: unsampled } });
      const publisher = t.app.get(DomainEventPublisher);
      const traceId = await unsampled
        .getTracer('test-app')
        .startActiveSpan('POST /orders', async (span) => {
          try {
            await inTransaction(t.orm, (tx) => publisher.publish(tx, orderPlaced()));
            return span.spanContext().traceId;
          } finally {
            span.end();
          }
        });
      await drainAll(t);
      const events = await storedEvents(db.url);
      // The handler's event continues the request's trace, flagged not sampled, through the
      // consumer span that recorded nothing.
      expect(events.map((e) => [e.name, e.headers.traceparent])).toEqual([
        ['order.placed', expect.stringMatching(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`))],
        ['order.billed', expect.stringMatching(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`))],
      ]);
      expect(events[0]!.headers.traceparent).not.toBe(events[1]!.headers.traceparent);
      expect(exporter.getFinishedSpans()).toEqual([]);
    } finally {
      await unsampled.shutdown();
    }
  });

  it('records dead letters as span events and ends every consumer span', async () => {
    t = await createIntegrationApp(db.url, {
      integration: { tracing: { tracerProvider: provider } },
    });
    const registry = t.app.get(EventSubscriberRegistry);
    registry.registerConsumer('doomed', { retry: { ...noRetryDelay, maxAttempts: 1 } });
    registry.register({
      consumer: 'doomed',
      pattern: '**',
      name: 'Doomed.handle',
      handle: async () => {
        throw new Error('never\nsecond line');
      },
    });
    await inTransaction(t.orm, (tx) => t.app.get(DomainEventPublisher).publish(tx, orderPlaced()));
    await drainAll(t);
    const [span] = exporter.getFinishedSpans().filter((s) => s.name === 'process order.placed');
    expect(span!.events.map((e) => e.name)).toEqual(['exception', 'delivery.dead-lettered']);
    expect(span!.status.code).toBe(STATUS_ERROR);
  });

  it('traces publishManyAndCommit: one PRODUCER span per event, each in its own headers', async () => {
    t = await createIntegrationApp(db.url, {
      integration: { tracing: { tracerProvider: provider } },
    });
    const client = await t.orm.pool!.connect();
    let ids: (string | null)[];
    try {
      await client.query('BEGIN');
      ids = await tracer.startActiveSpan('job', async (span) => {
        try {
          return await t.app
            .get(DomainEventPublisher)
            .publishManyAndCommit(client, [
              orderPlaced({ aggregateId: 'a' }),
              orderPlaced({ aggregateId: 'b' }),
            ]);
        } finally {
          span.end();
        }
      });
    } finally {
      client.release();
    }
    const producers = exporter.getFinishedSpans().filter((s) => s.name === 'send order.placed');
    expect(producers.map((s) => s.attributes['messaging.message.id'])).toEqual(ids);
    const stored = await storedEvents(db.url);
    expect(stored.map((r) => r.headers.traceparent)).toEqual(
      producers.map((s) => `00-${s.spanContext().traceId}-${s.spanContext().spanId}-01`),
    );
  });

  it("keeps the caller's traceparent", async () => {
    t = await createIntegrationApp(db.url, {
      integration: { tracing: { tracerProvider: provider } },
    });
    const mine = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const id = await tracer.startActiveSpan('job', async (span) => {
      try {
        return await t.app
          .get(DomainEventPublisher)
          .publishStandalone(orderPlaced({ headers: { traceparent: mine } }));
      } finally {
        span.end();
      }
    });
    const stored = (await storedEvents(db.url)).find((r) => r.id === id)!;
    expect(stored.headers).toEqual({ traceparent: mine });
    expect(exporter.getFinishedSpans().map((s) => s.name)).toContain('send order.placed');
  });

  it('writes no trace headers when tracing is disabled', async () => {
    t = await createIntegrationApp(db.url, {
      integration: { tracing: { enabled: false, tracerProvider: provider } },
    });
    const id = await tracer.startActiveSpan('job', async (span) => {
      try {
        return await t.app.get(DomainEventPublisher).publishStandalone(orderPlaced());
      } finally {
        span.end();
      }
    });
    const stored = (await storedEvents(db.url)).find((r) => r.id === id)!;
    expect(stored.headers).toEqual({});
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['job']);
    expect(trace.getActiveSpan()).toBeUndefined();
  });
});
