import { unknownKeyProblems } from '../../utils/closest-match';

/**
 * The part of a prom-client `Registry` the module uses, so that the public types never name
 * prom-client's own (an app without prom-client still compiles). A prom-client 15 `Registry`
 * (`new Registry()`, or prom-client's global `register` if you want that one) matches it.
 */
export interface MetricsRegistry {
  /** Adds a metric (prom-client calls it for each metric created with this registry). */
  registerMetric(metric: unknown): void;
  /** The metric registered under `name`, if any. */
  getSingleMetric(name: string): unknown;
  /** Removes the metric registered under `name`. */
  removeSingleMetric(name: string): void;
}

/**
 * Prometheus metrics through the optional peer `prom-client` (see docs/observability.md). The
 * metrics exist only when this option is given; they are registered in `registry` alone and
 * removed from it when the app shuts down.
 */
export interface IntegrationMetricsOptions {
  /** Where the metrics are registered: a prom-client `Registry` of the app. */
  readonly registry: MetricsRegistry;
  /**
   * Put before every metric name: empty, or matching `^[a-zA-Z_:][a-zA-Z0-9_:]*$`.
   * @default 'integration_'
   */
  readonly prefix?: string;
  /**
   * Upper bounds (seconds) of the handler duration histogram's buckets, ascending.
   * @default [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
   */
  readonly handlerDurationBuckets?: readonly number[];
  /**
   * Upper bounds (seconds) of the time-in-outbox histogram's buckets, ascending.
   * @default [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600]
   */
  readonly outboxWaitBuckets?: readonly number[];
  /**
   * Adds a `tenant` label (the event's tenant id; empty for events without one) to
   * `events_published_total` and `deliveries_total`. Every tenant then gets series of its own,
   * so turn it on when tenants are few (tens, not thousands).
   * @default false
   */
  readonly tenantLabel?: boolean;
}

/** {@link IntegrationMetricsOptions} after defaults. */
export interface ResolvedMetricsOptions {
  readonly registry: MetricsRegistry;
  readonly prefix: string;
  readonly handlerDurationBuckets: readonly number[];
  readonly outboxWaitBuckets: readonly number[];
  readonly tenantLabel: boolean;
}

/** Default of `metrics.prefix`. */
export const DEFAULT_METRICS_PREFIX = 'integration_';

/** Default of `metrics.handlerDurationBuckets`. */
export const DEFAULT_HANDLER_DURATION_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];

/** Default of `metrics.outboxWaitBuckets`. */
export const DEFAULT_OUTBOX_WAIT_BUCKETS: readonly number[] = [
  0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600,
];

/** Buckets of the claim batch size histogram (deliveries per claim). */
export const CLAIM_BATCH_SIZE_BUCKETS: readonly number[] = [
  1, 2, 5, 10, 25, 50, 100, 250, 500, 1000,
];

const METRICS_KEYS: readonly (keyof IntegrationMetricsOptions)[] = [
  'registry',
  'prefix',
  'handlerDurationBuckets',
  'outboxWaitBuckets',
  'tenantLabel',
];

const PREFIX_PATTERN = /^([a-zA-Z_:][a-zA-Z0-9_:]*)?$/;

/** Every problem of a `metrics` option (at `path`), for the module's one options validation. */
export function metricsOptionsProblems(value: unknown, path = 'metrics'): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [
      `${path} must be an object such as { registry: new Registry() } (got ${String(value)})`,
    ];
  }
  const problems: string[] = [...unknownKeyProblems(value, METRICS_KEYS, path)];
  const m = value as Partial<Record<keyof IntegrationMetricsOptions, unknown>>;
  const registry = m.registry as Partial<Record<keyof MetricsRegistry, unknown>> | undefined;
  if (
    typeof registry !== 'object' ||
    registry === null ||
    typeof registry.registerMetric !== 'function' ||
    typeof registry.getSingleMetric !== 'function' ||
    typeof registry.removeSingleMetric !== 'function'
  ) {
    problems.push(
      `${path}.registry must be a prom-client Registry: import { Registry } from 'prom-client' and pass new Registry() (or its global register)`,
    );
  }
  if (m.prefix !== undefined && (typeof m.prefix !== 'string' || !PREFIX_PATTERN.test(m.prefix))) {
    problems.push(
      `${path}.prefix must be empty or a metric name prefix matching ${PREFIX_PATTERN} (got ${JSON.stringify(m.prefix)})`,
    );
  }
  if (m.tenantLabel !== undefined && typeof m.tenantLabel !== 'boolean') {
    problems.push(
      `${path}.tenantLabel must be true or false (got ${JSON.stringify(m.tenantLabel)})`,
    );
  }
  for (const key of ['handlerDurationBuckets', 'outboxWaitBuckets'] as const) {
    const buckets = m[key];
    if (buckets === undefined) continue;
    const ok =
      Array.isArray(buckets) &&
      buckets.length > 0 &&
      buckets.every(
        (b: unknown, i) =>
          typeof b === 'number' && Number.isFinite(b) && b > 0 && (i === 0 || b > buckets[i - 1]),
      );
    if (!ok) {
      problems.push(
        `${path}.${key} must be a non-empty array of positive, finite, strictly ascending numbers (seconds)`,
      );
    }
  }
  return problems;
}

/** Defaults merged over a `metrics` option already validated by {@link metricsOptionsProblems}. */
export function resolveMetricsOptions(options: IntegrationMetricsOptions): ResolvedMetricsOptions {
  return {
    registry: options.registry,
    prefix: options.prefix ?? DEFAULT_METRICS_PREFIX,
    handlerDurationBuckets: options.handlerDurationBuckets ?? DEFAULT_HANDLER_DURATION_BUCKETS,
    outboxWaitBuckets: options.outboxWaitBuckets ?? DEFAULT_OUTBOX_WAIT_BUCKETS,
    tenantLabel: options.tenantLabel ?? false,
  };
}
