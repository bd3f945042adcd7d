import type { ModuleLoader } from '../../outbox/scheduler-registry.loader';

/** The package that provides the metric classes; an optional peer dependency. */
export const PROM_CLIENT_PACKAGE = 'prom-client';

/** Configuration common to the prom-client metric classes the module creates. */
export interface PromMetricConfiguration {
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly string[];
  readonly registers: readonly unknown[];
  collect?(this: PromGauge & PromCounter): void | Promise<void>;
}

/** A label set, by label name. */
export type PromLabels = Readonly<Record<string, string>>;

/** The part of a prom-client `Counter` the module uses. */
export interface PromCounter {
  inc(labels: PromLabels, value: number): void;
}

/** The part of a prom-client `Gauge` the module uses. */
export interface PromGauge {
  set(value: number): void;
  set(labels: PromLabels, value: number): void;
  reset(): void;
}

/**
 * The classes of prom-client 15 the module uses (histograms are the module's own
 * `BucketHistogram`, registered in the same registry).
 */
export interface PromClient {
  Counter: new (configuration: PromMetricConfiguration) => PromCounter;
  Gauge: new (configuration: PromMetricConfiguration) => PromGauge;
}

/**
 * The `prom-client` package, or `undefined` when that optional peer is not installed. Called
 * when the `metrics` option is given, at start-up, never at import. Any other failure to load it
 * (a broken install, a missing dependency of its own) is thrown.
 *
 * @param load - how to load the package; replaceable in tests. @default require
 */
export function loadPromClient(load: ModuleLoader = require): PromClient | undefined {
  let loaded: unknown;
  try {
    loaded = load(PROM_CLIENT_PACKAGE);
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    // Only the package itself: a dependency of it that is missing is a broken install, not absence.
    const missing =
      code === 'MODULE_NOT_FOUND' &&
      typeof message === 'string' &&
      message.includes(`'${PROM_CLIENT_PACKAGE}'`);
    if (missing) return undefined;
    throw error;
  }
  const client = loaded as Partial<PromClient> | undefined;
  return typeof client?.Counter === 'function' && typeof client.Gauge === 'function'
    ? (client as PromClient)
    : undefined;
}
