import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import type { IntegrationModuleOptions } from '../../src/integration';
import { thingEvent } from './effect-fixture';
import { publishAll, type IntegrationTestApp } from './integration-app';
import { waitFor } from './wait-for';

const SPAN_KIND_CONSUMER = 4;
const STATUS_ERROR = 2;

/** The key whose first delivery the consuming app's handler must fail (then succeed). */
export const TRACED_KEY = 'traced';

/**
 * Checks that a trace started in a publishing app continues in a consuming app through a
 * broker (issue 17 test 3). Each app gets its own tracer provider and in-memory exporter, as
 * two services would; a context manager makes the request span active while the event is
 * published. `start` boots both apps with the given `tracing` options; the consuming app's
 * handler must fail the first delivery of {@link TRACED_KEY} and succeed the next one.
 */
export async function expectTraceThroughBroker(options: {
  /** The relay consumer of the publishing app. */
  readonly relayConsumer: string;
  /** The consumer of the consuming app. */
  readonly consumer: string;
  start(tracing: {
    readonly producer: Partial<IntegrationModuleOptions>;
    readonly consumer: Partial<IntegrationModuleOptions>;
  }): Promise<{ producer: IntegrationTestApp; stop(): Promise<void> }>;
}): Promise<void> {
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  const exporters = { producer: new InMemorySpanExporter(), consumer: new InMemorySpanExporter() };
  const providers = {
    producer: new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporters.producer)],
    }),
    consumer: new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporters.consumer)],
    }),
  };
  let stop = async (): Promise<void> => undefined;
  try {
    const apps = await options.start({
      producer: { tracing: { tracerProvider: providers.producer } },
      consumer: { tracing: { tracerProvider: providers.consumer } },
    });
    stop = apps.stop;
    const [id] = await providers.producer
      .getTracer('test-app')
      .startActiveSpan('POST /things', async (span) => {
        try {
          return await publishAll(apps.producer, [
            thingEvent('thing.made', TRACED_KEY, { key: TRACED_KEY, n: 1 }),
          ]);
        } finally {
          span.end();
        }
      });
    const consumerSpans = () =>
      exporters.consumer
        .getFinishedSpans()
        .filter((s) => s.name === 'process thing.made')
        .sort(
          (a, b) =>
            Number(a.attributes['nestjs_integration.delivery.attempt']) -
            Number(b.attributes['nestjs_integration.delivery.attempt']),
        );
    // Both attempts' spans end while the app runs (at the message's settle), not at shutdown.
    await waitFor(() => consumerSpans().length === 2, 30_000, 'the consuming spans of 2 attempts');

    const produced = exporters.producer.getFinishedSpans();
    const request = produced.find((s) => s.name === 'POST /things');
    const send = produced.find((s) => s.name === 'send thing.made');
    const relayed = produced.find(
      (s) =>
        s.name === 'process thing.made' &&
        s.attributes['messaging.consumer.group.name'] === options.relayConsumer,
    );
    expect(request && send && relayed).toBeTruthy();
    const traceId = request!.spanContext().traceId;
    const spanId = (s: ReadableSpan) => s.spanContext().spanId;
    expect(send!.spanContext().traceId).toBe(traceId);
    expect(send!.parentSpanContext?.spanId).toBe(spanId(request!));
    expect(send!.attributes['messaging.message.id']).toBe(id);
    expect(relayed!.spanContext().traceId).toBe(traceId);

    // In the other app: the same trace, each attempt a child of (and linked to) the producer.
    const [failed, committed] = consumerSpans() as [ReadableSpan, ReadableSpan];
    for (const span of [failed, committed]) {
      expect(span.kind).toBe(SPAN_KIND_CONSUMER);
      expect(span.spanContext().traceId).toBe(traceId);
      expect(span.parentSpanContext?.spanId).toBe(spanId(send!));
      expect(span.parentSpanContext?.isRemote).toBe(true);
      expect(span.links.map((l) => l.context.spanId)).toEqual([spanId(send!)]);
      expect(span.attributes).toMatchObject({
        'messaging.message.id': id,
        'messaging.consumer.group.name': options.consumer,
      });
    }
    expect(failed.attributes['nestjs_integration.delivery.attempt']).toBe(1);
    expect(failed.status.code).toBe(STATUS_ERROR);
    expect(failed.events.map((e) => e.name)).toEqual(['exception', 'delivery.retry']);
    expect(committed.attributes['nestjs_integration.delivery.attempt']).toBe(2);
    expect(committed.status.code).not.toBe(STATUS_ERROR);
  } finally {
    await stop();
    await providers.producer.shutdown();
    await providers.consumer.shutdown();
    context.disable();
  }
}
