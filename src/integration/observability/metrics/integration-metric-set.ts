import type { ConsumerBacklog } from '../../processing/delivery.repository';
import { INTEGRATION_METRIC_NAMES, type IntegrationMetricName } from './metric-names';
import { CLAIM_BATCH_SIZE_BUCKETS, type ResolvedMetricsOptions } from './metrics.options';
import type { PromClient, PromCounter, PromGauge, PromHistogram } from './prom-client.loader';

/**
 * The module's prom-client metrics of one app, registered in the registry of its `metrics`
 * option only. The backlog gauges are computed at scrape time from `readBacklog`.
 */
export class IntegrationMetricSet {
  readonly eventsPublished: PromCounter;
  readonly eventsSequenced: PromCounter;
  readonly claims: PromCounter;
  readonly claimBatchSize: PromHistogram;
  readonly deliveries: PromCounter;
  readonly handlerDuration: PromHistogram;
  readonly timeInOutbox: PromHistogram;
  readonly leaseLosses: PromCounter;
  readonly listenerConnected: PromGauge;
  private readonly registered: ReadonlyMap<string, unknown>;

  constructor(
    prom: PromClient,
    private readonly options: ResolvedMetricsOptions,
    readBacklog: () => Promise<readonly ConsumerBacklog[] | undefined>,
  ) {
    const registers = [options.registry];
    const name = (role: IntegrationMetricName): string =>
      options.prefix + INTEGRATION_METRIC_NAMES[role];
    const registered = new Map<string, unknown>();
    const add = <M>(metricName: string, metric: M): M => {
      registered.set(metricName, metric);
      return metric;
    };
    const counter = (role: IntegrationMetricName, help: string, labelNames: string[] = []) =>
      add(name(role), new prom.Counter({ name: name(role), help, labelNames, registers }));
    const histogram = (
      role: IntegrationMetricName,
      help: string,
      buckets: readonly number[],
      labelNames: string[] = [],
    ) =>
      add(
        name(role),
        new prom.Histogram({ name: name(role), help, labelNames, buckets, registers }),
      );
    /** A gauge refilled from the backlog at each scrape: no samples when it cannot be read. */
    const backlogGauge = (
      role: IntegrationMetricName,
      help: string,
      labelNames: string[],
      fill: (gauge: PromGauge, backlog: readonly ConsumerBacklog[]) => void,
    ) =>
      add(
        name(role),
        new prom.Gauge({
          name: name(role),
          help,
          labelNames,
          registers,
          async collect(this: PromGauge) {
            const backlog = await readBacklog();
            this.reset();
            if (backlog) fill(this, backlog);
          },
        }),
      );

    this.eventsPublished = counter(
      'eventsPublished',
      'Events written to the outbox by publish calls (including calls whose transaction later rolled back), by event name',
      ['event_name'],
    );
    this.eventsSequenced = counter(
      'eventsSequenced',
      'Committed events fanned out to their consumers by the sequencer of this instance',
    );
    this.claims = counter('claims', 'Claims of this instance that leased at least one delivery');
    this.claimBatchSize = histogram(
      'claimBatchSize',
      'Deliveries leased per claim',
      CLAIM_BATCH_SIZE_BUCKETS,
    );
    this.deliveries = counter(
      'deliveries',
      'Deliveries settled by this instance, by consumer and outcome (processed, retried, dead_lettered, released)',
      ['consumer', 'outcome'],
    );
    this.handlerDuration = histogram(
      'handlerDuration',
      "Time a consumer's handlers ran for one delivery, successful or failed, in seconds",
      options.handlerDurationBuckets,
      ['consumer'],
    );
    this.timeInOutbox = histogram(
      'timeInOutbox',
      "Seconds from the event's outbox row (the publishing transaction's start) to its delivery settled processed, by consumer",
      options.outboxWaitBuckets,
      ['consumer'],
    );
    this.leaseLosses = counter(
      'leaseLosses',
      'Deliveries this instance could not settle because its lease was gone (another instance owns them)',
      ['consumer'],
    );
    this.listenerConnected = add(
      name('listenerConnected'),
      new prom.Gauge({
        name: name('listenerConnected'),
        help: "1 while this instance's LISTEN connection is up, else 0",
        registers,
      }),
    );
    this.listenerConnected.set(0);
    backlogGauge(
      'backlog',
      'Deliveries pending (due or waiting for a retry) or processing (leased), by consumer; counts stop at 100000',
      ['consumer', 'status'],
      (gauge, backlog) => {
        for (const c of backlog) {
          gauge.set({ consumer: c.consumer, status: 'pending' }, c.pending);
          gauge.set({ consumer: c.consumer, status: 'processing' }, c.processing);
        }
      },
    );
    backlogGauge(
      'deadLetters',
      'Dead letters waiting for a replay or a discard, by consumer; counts stop at 100000',
      ['consumer'],
      (gauge, backlog) => {
        for (const c of backlog) gauge.set({ consumer: c.consumer }, c.deadLetter);
      },
    );
    backlogGauge(
      'oldestDueAge',
      'Seconds the longest-waiting due delivery among the consumer’s next 1000 in line has been due (0: none due)',
      ['consumer'],
      (gauge, backlog) => {
        for (const c of backlog) gauge.set({ consumer: c.consumer }, (c.oldestDueMs ?? 0) / 1000);
      },
    );
    this.registered = registered;
  }

  /** The names of the metrics of this set, prefix included. */
  get names(): readonly string[] {
    return [...this.registered.keys()];
  }

  /**
   * Removes this set's metrics from the registry (those still registered as this set's), so
   * another app can register the same names there.
   */
  remove(): void {
    const { registry } = this.options;
    for (const [metricName, metric] of this.registered) {
      if (registry.getSingleMetric(metricName) === metric) registry.removeSingleMetric(metricName);
    }
  }
}
