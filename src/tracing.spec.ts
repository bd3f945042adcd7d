import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base';
import { traceExporterFromEnv } from './tracing';

describe('traceExporterFromEnv', () => {
  it('starts no SDK when the environment names no exporter', () => {
    expect(traceExporterFromEnv({})).toBeUndefined();
    expect(traceExporterFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' })).toBeUndefined();
    expect(
      traceExporterFromEnv({
        OTEL_TRACES_EXPORTER: 'none',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      }),
    ).toBeUndefined();
  });

  it('exports to the console with OTEL_TRACES_EXPORTER=console', () => {
    const chosen = traceExporterFromEnv({ OTEL_TRACES_EXPORTER: 'console' });
    expect(chosen?.exporter).toBeInstanceOf(ConsoleSpanExporter);
    expect(chosen?.destination).toBe('the console');
  });

  it('exports over OTLP/HTTP when an endpoint is set, even with the console asked for', async () => {
    for (const env of [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' },
      { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' },
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'console' },
    ]) {
      const chosen = traceExporterFromEnv(env);
      expect(chosen?.exporter).toBeInstanceOf(OTLPTraceExporter);
      expect(chosen?.destination).toMatch(/^OTLP\/HTTP http:\/\/127\.0\.0\.1:4318/);
      await chosen?.exporter.shutdown();
    }
  });
});
