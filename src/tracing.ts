import { Logger } from '@nestjs/common';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

/** The started tracing SDK. */
export interface Tracing {
  /** Where the integration module's tracer comes from. */
  readonly provider: NodeTracerProvider;
  /** What the spans are sent to, for the start-up log line. */
  readonly destination: string;
  /** Flushes the spans still buffered and stops exporting. */
  shutdown(): Promise<void>;
}

/**
 * The exporter the environment asks for: OTLP over HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT`
 * (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set, the console when
 * `OTEL_TRACES_EXPORTER=console`, none otherwise (then no SDK is started).
 */
export function traceExporterFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): { exporter: SpanExporter; destination: string } | undefined {
  if (env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint) {
    // The exporter reads the endpoint (and OTEL_EXPORTER_OTLP_HEADERS etc.) itself.
    return { exporter: new OTLPTraceExporter(), destination: `OTLP/HTTP ${endpoint}` };
  }
  if (env.OTEL_TRACES_EXPORTER === 'console') {
    return { exporter: new ConsoleSpanExporter(), destination: 'the console' };
  }
  return undefined;
}

/**
 * Starts the OpenTelemetry SDK for the vault app when the environment asks for an exporter
 * (see {@link traceExporterFromEnv}): a `NodeTracerProvider` for `service.name` = `vault`,
 * registered globally with the AsyncLocalStorage context manager and the W3C propagator, so
 * spans follow `await`. Call it before the app is created; undefined when tracing is off.
 */
export function startTracing(env: NodeJS.ProcessEnv = process.env): Tracing | undefined {
  const chosen = traceExporterFromEnv(env);
  if (!chosen) return undefined;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: env.OTEL_SERVICE_NAME || 'vault' }),
    spanProcessors: [new BatchSpanProcessor(chosen.exporter)],
  });
  provider.register();
  new Logger('Tracing').log(`Exporting traces to ${chosen.destination}`);
  return {
    provider,
    destination: chosen.destination,
    shutdown: () => provider.shutdown(),
  };
}
