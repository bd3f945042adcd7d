import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { InvalidIntegrationOptionsError } from '../../errors/invalid-options.error';
import { INTEGRATION_OPTIONS } from '../../integration.constants';
import type { ResolvedIntegrationOptions } from '../../integration.options';
import type { ModuleLoader } from '../../outbox/scheduler-registry.loader';
import { IntegrationLifecycle } from '../../processing/integration-lifecycle';
import { BacklogSnapshot } from '../backlog-snapshot';
import { BacklogCollector } from './backlog-collector';
import { IntegrationMetricSet } from './integration-metric-set';
import { INTEGRATION_METRIC_NAMES } from './metric-names';
import { MetricsObserver } from './metrics.observer';
import { loadPromClient, PROM_CLIENT_PACKAGE } from './prom-client.loader';

/** How the metrics service loads prom-client; replaceable in tests. */
export const PROM_CLIENT_LOADER = Symbol('INTEGRATION_PROM_CLIENT_LOADER');

/**
 * Creates the module's metrics when the `metrics` option is given (nothing at all otherwise:
 * prom-client is not even loaded), feeds them through a lifecycle observer, and removes them
 * from the registry when the app shuts down.
 */
@Injectable()
export class IntegrationMetrics implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('IntegrationMetrics');
  private metrics?: IntegrationMetricSet;
  private unsubscribe?: () => void;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly lifecycle: IntegrationLifecycle,
    private readonly snapshot: BacklogSnapshot,
    @Inject(PROM_CLIENT_LOADER) private readonly load: ModuleLoader,
  ) {}

  onModuleInit(): void {
    const options = this.options.metrics;
    if (!options) return;
    const prom = loadPromClient(this.load);
    if (!prom) {
      throw new InvalidIntegrationOptionsError([
        `metrics needs the optional peer ${PROM_CLIENT_PACKAGE}, which is not installed (or has no Counter and Gauge classes): npm install ${PROM_CLIENT_PACKAGE}@15, or remove the metrics option`,
      ]);
    }
    const collector = new BacklogCollector(this.snapshot);
    const taken = probeNames(options.prefix).filter(
      (name) => options.registry.getSingleMetric(name) !== undefined,
    );
    if (taken.length > 0) {
      throw new InvalidIntegrationOptionsError([
        `metrics.registry already holds ${taken.join(', ')}: another app (or module) registered them and is still open. ` +
          'Give each app its own Registry, or a different metrics.prefix',
      ]);
    }
    this.metrics = new IntegrationMetricSet(prom, options, () => collector.read());
    this.unsubscribe = this.lifecycle.subscribe(new MetricsObserver(this.metrics));
    this.logger.log(
      `Exporting ${this.metrics.names.length} metrics (prefix '${options.prefix}') to the registry of the metrics option`,
    );
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.metrics?.remove();
    this.metrics = undefined;
  }
}

/** The metric names a set with `prefix` registers. */
function probeNames(prefix: string): string[] {
  return Object.values(INTEGRATION_METRIC_NAMES).map((n) => prefix + n);
}
