import { context } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base';
import { Registry } from 'prom-client';
import type { IntegrationModuleOptions } from '../../src/integration';

/**
 * Whether a bench app records metrics and traces: `on` = the `metrics` option with a registry
 * of its own and tracing through a recording SDK (every span sampled, batched, then dropped by
 * the exporter, so what is measured is the recording, not a collector); `off` = neither
 * (`tracing.enabled: false`, no `metrics`); `metrics` = metrics only (tracing disabled);
 * `sampled` = `on` with a parent-based sampler keeping 10 % of root traces. Unset: the
 * library's defaults.
 */
export type BenchObservability = 'on' | 'off' | 'metrics' | 'sampled';

/** An exporter that accepts every batch and keeps nothing. */
class DiscardingExporter implements SpanExporter {
  export(_spans: ReadableSpan[], done: (result: { code: number }) => void): void {
    done({ code: 0 });
  }
  async shutdown(): Promise<void> {}
}

let contextManager: AsyncLocalStorageContextManager | undefined;

/** The module options of `mode`, and what to close with the app. */
export function observabilityOptions(mode: BenchObservability | undefined): {
  options: Pick<IntegrationModuleOptions, 'metrics' | 'tracing'>;
  close: () => Promise<void>;
} {
  if (mode === undefined) return { options: {}, close: async () => undefined };
  if (mode === 'off')
    return { options: { tracing: { enabled: false } }, close: async () => undefined };
  if (mode === 'metrics')
    return {
      options: { metrics: { registry: new Registry() }, tracing: { enabled: false } },
      close: async () => undefined,
    };
  // What an app with an SDK does once per process: spans find their parents through it.
  if (!contextManager) {
    contextManager = new AsyncLocalStorageContextManager().enable();
    context.setGlobalContextManager(contextManager);
  }
  const provider = new BasicTracerProvider({
    spanProcessors: [new BatchSpanProcessor(new DiscardingExporter())],
    ...(mode === 'sampled'
      ? { sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.1) }) }
      : {}),
  });
  return {
    options: { metrics: { registry: new Registry() }, tracing: { tracerProvider: provider } },
    close: () => provider.shutdown(),
  };
}
