import type { ModuleLoader } from '../../outbox/scheduler-registry.loader';

/** Package that provides the OpenTelemetry API; an optional peer dependency. */
export const OPENTELEMETRY_API_PACKAGE = '@opentelemetry/api';

/**
 * The part of an OpenTelemetry `TracerProvider` the module uses (structurally: pass the SDK's
 * provider, e.g. a `NodeTracerProvider`, without this package depending on the SDK's types).
 */
export interface TracerProviderLike {
  getTracer(name: string, version?: string): unknown;
}

// What follows mirrors the few members of `@opentelemetry/api` this module calls, so its types
// never reference that optional peer (a user without it still compiles).

/** A span's identity (`SpanContext`). */
export interface OtelSpanContext {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
  readonly isRemote?: boolean;
  readonly traceState?: { serialize(): string };
}

/** The attribute values the module sets. */
export type OtelAttributes = Record<string, string | number | boolean>;

/** The members of a `Span` the module calls. */
export interface OtelSpan {
  spanContext(): OtelSpanContext;
  /** False for a span nothing records (sampled out, or no SDK): its events are dropped. */
  isRecording(): boolean;
  setAttribute(key: string, value: string | number | boolean): unknown;
  addEvent(name: string, attributes?: OtelAttributes): unknown;
  recordException(exception: unknown): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  end(): void;
}

/** The member of a `Tracer` the module calls. */
export interface OtelTracer {
  startSpan(
    name: string,
    options?: {
      kind?: number;
      attributes?: OtelAttributes;
      links?: { context: OtelSpanContext }[];
    },
    context?: unknown,
  ): OtelSpan;
}

/** The members of the `@opentelemetry/api` module the module calls. */
export interface OtelApi {
  readonly trace: {
    getTracerProvider(): TracerProviderLike;
    setSpan(context: unknown, span: OtelSpan): unknown;
    setSpanContext(context: unknown, spanContext: OtelSpanContext): unknown;
  };
  readonly context: {
    active(): unknown;
    with<R>(context: unknown, fn: () => R): R;
  };
  readonly ROOT_CONTEXT: unknown;
  readonly SpanKind: { readonly PRODUCER: number; readonly CONSUMER: number };
  readonly SpanStatusCode: { readonly ERROR: number };
  createTraceState?(raw?: string): { serialize(): string };
}

/**
 * The `@opentelemetry/api` module, or `undefined` when that optional peer is not installed.
 * Called at start-up, never at import. Any other failure to load it is thrown.
 *
 * @param load - how to load the package; replaceable in tests. @default require
 */
export function loadOpenTelemetryApi(load: ModuleLoader = require): OtelApi | undefined {
  let loaded: unknown;
  try {
    loaded = load(OPENTELEMETRY_API_PACKAGE);
  } catch (error) {
    if (isMissing(error, OPENTELEMETRY_API_PACKAGE)) return undefined;
    throw error;
  }
  const api = loaded as Partial<OtelApi> | undefined;
  return api && typeof api.trace === 'object' && typeof api.context === 'object'
    ? (api as OtelApi)
    : undefined;
}

function isMissing(error: unknown, id: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  // Only the package itself: a dependency of it that is missing is a broken install, not absence.
  return code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${id}'`);
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);

/** The W3C `traceparent` header of `context` (version 00). */
export function formatTraceparent(context: OtelSpanContext): string {
  return `00-${context.traceId}-${context.spanId}-${(context.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/**
 * The remote span context a W3C `traceparent` (and `tracestate`) header names, or undefined
 * when it is absent or malformed (version ff, all-zero ids, version 00 with extra fields).
 */
export function parseTraceparent(
  api: OtelApi,
  traceparent: string | undefined,
  tracestate: string | undefined,
): OtelSpanContext | undefined {
  if (typeof traceparent !== 'string') return undefined;
  const match = TRACEPARENT.exec(traceparent.trim());
  if (!match) return undefined;
  const [, version, traceId, spanId, flags, rest] = match;
  if (version === 'ff' || (version === '00' && rest)) return undefined;
  if (traceId === ZERO_TRACE_ID || spanId === ZERO_SPAN_ID) return undefined;
  const traceState =
    typeof tracestate === 'string' && tracestate && api.createTraceState
      ? api.createTraceState(tracestate)
      : undefined;
  return {
    traceId: traceId!,
    spanId: spanId!,
    traceFlags: parseInt(flags!, 16),
    isRemote: true,
    ...(traceState ? { traceState } : {}),
  };
}
