import {
  DEFAULT_HANDLER_DURATION_BUCKETS,
  DEFAULT_OUTBOX_WAIT_BUCKETS,
  metricsOptionsProblems,
  resolveMetricsOptions,
  type MetricsRegistry,
} from './metrics.options';
import { loadPromClient } from './prom-client.loader';

const registry: MetricsRegistry = {
  registerMetric: () => undefined,
  getSingleMetric: () => undefined,
  removeSingleMetric: () => undefined,
};

describe('metrics options', () => {
  it('accepts a registry alone and fills the defaults', () => {
    expect(metricsOptionsProblems({ registry })).toEqual([]);
    expect(resolveMetricsOptions({ registry })).toEqual({
      registry,
      prefix: 'integration_',
      handlerDurationBuckets: DEFAULT_HANDLER_DURATION_BUCKETS,
      outboxWaitBuckets: DEFAULT_OUTBOX_WAIT_BUCKETS,
      tenantLabel: false,
    });
    expect(metricsOptionsProblems({ registry, prefix: '', outboxWaitBuckets: [0.5, 1] })).toEqual(
      [],
    );
  });

  it('names every invalid field and how to fix it', () => {
    expect(metricsOptionsProblems(true)).toEqual([
      'metrics must be an object such as { registry: new Registry() } (got true)',
    ]);
    const problems = metricsOptionsProblems({
      registry: { registerMetric: () => undefined },
      prefix: 'with-dash_',
      handlerDurationBuckets: [],
      outboxWaitBuckets: [1, 1],
      buckets: [1],
      tenantLabel: 'yes',
    });
    expect(problems).toHaveLength(6);
    expect(problems.join('\n')).toMatch(/metrics\.tenantLabel must be true or false \(got "yes"\)/);
    expect(problems.join('\n')).toMatch(/metrics\.buckets/);
    expect(problems.join('\n')).toMatch(/metrics\.registry must be a prom-client Registry/);
    expect(problems.join('\n')).toMatch(/metrics\.prefix must be empty or .*"with-dash_"/);
    expect(problems.join('\n')).toMatch(/metrics\.handlerDurationBuckets must be a non-empty/);
    expect(problems.join('\n')).toMatch(/metrics\.outboxWaitBuckets must be .*strictly ascending/);
  });
});

describe('loadPromClient', () => {
  const missing = (id: string) =>
    Object.assign(new Error(`Cannot find module '${id}' from 'x'`), { code: 'MODULE_NOT_FOUND' });

  it('is undefined when prom-client itself is missing', () => {
    expect(
      loadPromClient(() => {
        throw missing('prom-client');
      }),
    ).toBeUndefined();
  });

  it('rethrows any other failure (a broken install)', () => {
    expect(() =>
      loadPromClient(() => {
        throw missing('tdigest');
      }),
    ).toThrow(/tdigest/);
  });

  it('returns the package when it has the metric classes', () => {
    class Metric {}
    const prom = { Counter: Metric, Gauge: Metric, Histogram: Metric };
    expect(loadPromClient(() => prom)).toBe(prom);
    expect(loadPromClient(() => ({}))).toBeUndefined();
  });
});
