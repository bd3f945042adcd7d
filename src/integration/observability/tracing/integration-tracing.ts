import { Inject, Injectable, type OnModuleDestroy } from '@nestjs/common';
import { INTEGRATION_OPTIONS } from '../../integration.constants';
import type { ResolvedIntegrationOptions } from '../../integration.options';
import { IntegrationLifecycle } from '../../processing/integration-lifecycle';
import type { ClaimedDelivery, SettleDecision } from '../../processing/delivery.types';
import type { IntegrationLifecycleEvent } from '../../processing/lifecycle-events';
import { errorMessage } from '../../utils/describe';
import {
  formatTraceparent,
  loadOpenTelemetryApi,
  parseTraceparent,
  type OtelApi,
  type OtelAttributes,
  type OtelSpan,
  type OtelSpanContext,
  type OtelTracer,
} from './otel-api';

/** Instrumentation scope of every span of the module. */
export const TRACER_NAME = 'nestjs-integration';
/** `messaging.system` of every span of the module. */
export const MESSAGING_SYSTEM = 'nestjs-integration';
/** Consumer spans kept open until their settle decision, at most (oldest ended first). */
export const MAX_OPEN_DELIVERY_SPANS = 10_000;

/** The W3C trace context headers of a producer span. */
export type TraceHeaders = Readonly<Record<string, string>>;

/**
 * OpenTelemetry spans of the module: a PRODUCER span per published event, whose W3C
 * `traceparent`/`tracestate` go into the event's headers, and a CONSUMER span per (event,
 * consumer) delivery, child of (and linked to) that producer context, around the consumer's
 * handlers and kept open until the settle decision (retry, dead letter) is recorded on it.
 *
 * Inactive (every method a no-op, {@link active} false) when `tracing.enabled` is false or
 * `@opentelemetry/api` is not installed; the API is loaded here, at bootstrap, never at import.
 */
@Injectable()
export class IntegrationTracing implements OnModuleDestroy {
  private readonly api: OtelApi | undefined;
  private readonly tracer: OtelTracer | undefined;
  /** Consumer spans waiting for their delivery's settle decision, in start order. */
  private readonly open = new Map<ClaimedDelivery, OtelSpan>();
  private readonly unsubscribe: (() => void) | undefined;

  constructor(
    @Inject(INTEGRATION_OPTIONS) options: ResolvedIntegrationOptions,
    lifecycle: IntegrationLifecycle,
  ) {
    if (!options.tracing.enabled) return;
    const api = loadOpenTelemetryApi();
    if (!api) return;
    const provider = options.tracing.tracerProvider ?? api.trace.getTracerProvider();
    this.api = api;
    this.tracer = provider.getTracer(TRACER_NAME) as OtelTracer;
    this.unsubscribe = lifecycle.subscribe({ onEvent: (event) => this.onEvent(event) });
  }

  /** True when spans are recorded (tracing enabled and `@opentelemetry/api` installed). */
  get active(): boolean {
    return this.tracer !== undefined;
  }

  /**
   * Starts the PRODUCER span of one event about to be published, child of the active context
   * (a request's span, or a consumer span when a handler publishes), and returns it with the
   * headers that carry its context.
   */
  startProducer(name: string): { span: OtelSpan; headers: TraceHeaders } | undefined {
    const { api, tracer } = this;
    if (!api || !tracer) return undefined;
    const span = tracer.startSpan(
      `send ${name}`,
      {
        kind: api.SpanKind.PRODUCER,
        attributes: {
          'messaging.system': MESSAGING_SYSTEM,
          'messaging.operation.type': 'send',
          'messaging.operation.name': 'publish',
          'messaging.destination.name': name,
        },
      },
      api.context.active(),
    );
    const context = span.spanContext();
    // A no-op provider (API installed, no SDK registered) gives an invalid context: no headers.
    if (!isValid(context)) return { span, headers: {} };
    const headers: Record<string, string> = { traceparent: formatTraceparent(context) };
    const state = context.traceState?.serialize();
    if (state) headers.tracestate = state;
    return { span, headers };
  }

  /** Ends producer spans after their events were written (`ids` in the same order), or failed. */
  endProducers(
    spans: readonly { span: OtelSpan; correlationId: string | null }[],
    ids: readonly (string | null)[] | undefined,
    error?: unknown,
  ): void {
    spans.forEach(({ span, correlationId }, i) => {
      const id = ids?.[i];
      if (id) span.setAttribute('messaging.message.id', id);
      if (correlationId) span.setAttribute('messaging.message.conversation_id', correlationId);
      if (error !== undefined) this.fail(span, error);
      span.end();
    });
  }

  /**
   * Starts the CONSUMER span of one delivery: child of the producer context in the event's
   * `traceparent` header (a root span when there is none), with a link to it. It stays open
   * until the delivery's settle decision (or lease loss) is reported.
   */
  startConsumer(delivery: ClaimedDelivery): OtelSpan | undefined {
    const { api, tracer } = this;
    if (!api || !tracer) return undefined;
    const { event } = delivery;
    // Valid or undefined: parseTraceparent checks the format and refuses all-zero ids.
    const producer = parseTraceparent(api, event.headers.traceparent, event.headers.tracestate);
    const parent = producer
      ? api.trace.setSpanContext(api.ROOT_CONTEXT, producer)
      : api.ROOT_CONTEXT;
    const attributes: OtelAttributes = {
      'messaging.system': MESSAGING_SYSTEM,
      'messaging.operation.type': 'process',
      'messaging.operation.name': 'process',
      'messaging.destination.name': event.name,
      'messaging.message.id': event.id,
      'messaging.consumer.group.name': delivery.consumer,
      'nestjs_integration.delivery.attempt': delivery.attempt,
    };
    if (event.correlationId) attributes['messaging.message.conversation_id'] = event.correlationId;
    const span = tracer.startSpan(
      `process ${event.name}`,
      {
        kind: api.SpanKind.CONSUMER,
        attributes,
        ...(producer ? { links: [{ context: producer }] } : {}),
      },
      parent,
    );
    // A re-run of the same claim (after a conflict in its batch) starts a new span: the
    // previous one is over, and says why it has no settle decision.
    const previous = this.open.get(delivery);
    if (previous) {
      previous.addEvent('delivery.rerun');
      this.close(delivery, previous);
    }
    // A span nothing records (sampled out) still carries the trace context into the handlers,
    // but there is nothing to add to it later: it is not kept.
    if (!span.isRecording()) return span;
    this.open.set(delivery, span);
    if (this.open.size > MAX_OPEN_DELIVERY_SPANS) {
      const [oldest, oldestSpan] = this.open.entries().next().value as [ClaimedDelivery, OtelSpan];
      oldestSpan.end();
      this.open.delete(oldest);
    }
    return span;
  }

  /** Runs `fn` with `span` as the active span (the handlers' database calls are inside it). */
  within<R>(span: OtelSpan, fn: () => R): R {
    const api = this.api!;
    return api.context.with(api.trace.setSpan(api.context.active(), span), fn);
  }

  /** Records a handler's failure on its span: the exception, and status ERROR. */
  fail(span: OtelSpan, error: unknown): void {
    span.recordException(error instanceof Error ? error : errorMessage(error));
    span.setStatus({ code: this.api!.SpanStatusCode.ERROR, message: errorMessage(error) });
  }

  /**
   * Records the settle decision of a delivery on its open CONSUMER span (a retry or dead letter
   * as a span event and status ERROR) and ends the span. The processor's deliveries get this
   * from its `delivery.settled` lifecycle event; the inbound module calls it once the broker
   * message is acknowledged, given back or dead-lettered. A no-op for a delivery without an
   * open span.
   */
  settled(delivery: ClaimedDelivery, decision: SettleDecision): void {
    const span = this.open.get(delivery);
    if (!span) return;
    if (decision.action === 'retry') {
      span.addEvent('delivery.retry', {
        'nestjs_integration.retry.delay_ms': decision.delayMs,
        'error.message': decision.error,
      });
      span.setStatus({ code: this.api!.SpanStatusCode.ERROR, message: decision.error });
    } else if (decision.action === 'dead-letter') {
      span.addEvent('delivery.dead-lettered', { 'error.message': decision.error });
      span.setStatus({ code: this.api!.SpanStatusCode.ERROR, message: decision.error });
    } else if (decision.action === 'release') {
      span.addEvent('delivery.released');
    }
    this.close(delivery, span);
  }

  private onEvent(event: IntegrationLifecycleEvent): void {
    switch (event.type) {
      case 'delivery.settled':
        this.settled(event.delivery, event.decision);
        return;
      case 'delivery.lease-lost': {
        const span = this.open.get(event.delivery);
        if (!span) return;
        span.addEvent('delivery.lease-lost');
        this.close(event.delivery, span);
        return;
      }
      case 'processor.stopped':
        this.endAll();
        return;
      default:
        return;
    }
  }

  private close(delivery: ClaimedDelivery, span: OtelSpan): void {
    span.end();
    this.open.delete(delivery);
  }

  private endAll(): void {
    for (const span of this.open.values()) span.end();
    this.open.clear();
  }

  onModuleDestroy(): void {
    this.unsubscribe?.();
    this.endAll();
  }
}

const ZERO = /^0+$/;

function isValid(context: OtelSpanContext): boolean {
  return (
    /^[0-9a-f]{32}$/.test(context.traceId) &&
    !ZERO.test(context.traceId) &&
    /^[0-9a-f]{16}$/.test(context.spanId) &&
    !ZERO.test(context.spanId)
  );
}
