import type { ConsumerBacklog } from '../../processing/delivery.repository';
import { BucketHistogram, type HistogramSeries } from './bucket-histogram';
import { INTEGRATION_METRIC_NAMES, type IntegrationMetricName } from './metric-names';
import { CLAIM_BATCH_SIZE_BUCKETS, type ResolvedMetricsOptions } from './metrics.options';
import { PendingCounts, type PendingCount } from './pending-count';
import type { PromClient, PromCounter, PromGauge } from './prom-client.loader';

/** The `outcome` label values of `deliveries_total`. */
export type DeliveryOutcome = 'processed' | 'retried' | 'dead_lettered' | 'released';

/** Everything the observer records for one consumer, found with one map look-up. */
export interface ConsumerCells {
  readonly leaseLosses: PendingCount;
  readonly handlerDuration: HistogramSeries;
  readonly timeInOutbox: HistogramSeries;
}

const OUTCOMES: readonly DeliveryOutcome[] = ['processed', 'retried', 'dead_lettered', 'released'];

/**
 * The module's metrics of one app, registered in the registry of its `metrics` option only.
 * The hot path (the observer) adds to plain fields ({@link PendingCounts}, {@link BucketHistogram}
 * series); prom-client's counters receive the sums when scraped, and the backlog gauges are read
 * from `readBacklog` at scrape time.
 */
export class IntegrationMetricSet {
  readonly sequenced: PendingCount;
  readonly claims: PendingCount;
  readonly claimBatchSize: HistogramSeries;
  readonly listenerConnected: PromGauge;
  private readonly published = new PendingCounts();
  private readonly deliveries = new PendingCounts();
  private readonly leaseLosses = new PendingCounts();
  private readonly handlerDuration: BucketHistogram;
  private readonly timeInOutbox: BucketHistogram;
  private readonly consumers = new Map<string, ConsumerCells>();
  /** `deliveries_total` counts per consumer (and tenant, with `tenantLabel`). */
  private readonly outcomesByKey = new Map<
    string,
    Readonly<Record<DeliveryOutcome, PendingCount>>
  >();
  private readonly publishedByName = new Map<string, PendingCount>();
  private readonly registered = new Map<string, unknown>();

  constructor(
    prom: PromClient,
    private readonly options: ResolvedMetricsOptions,
    readBacklog: () => Promise<readonly ConsumerBacklog[] | undefined>,
  ) {
    const { registry } = options;
    const registers = [registry];
    const name = (role: IntegrationMetricName): string =>
      options.prefix + INTEGRATION_METRIC_NAMES[role];
    const add = <M>(metricName: string, metric: M): M => {
      this.registered.set(metricName, metric);
      return metric;
    };
    /** A prom-client counter that receives `counts` when scraped. */
    const counter = (
      role: IntegrationMetricName,
      help: string,
      labelNames: string[],
      counts: PendingCounts,
    ): PromCounter =>
      add(
        name(role),
        new prom.Counter({
          name: name(role),
          help,
          labelNames,
          registers,
          collect(this: PromCounter) {
            counts.flushInto(this);
          },
        }),
      );
    const histogram = (role: IntegrationMetricName, help: string, buckets: readonly number[]) => {
      const metric = new BucketHistogram(name(role), help, buckets);
      registry.registerMetric(metric);
      return add(name(role), metric);
    };
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

    counter(
      'eventsPublished',
      `Events written to the outbox by publish calls (including calls whose transaction later rolled back), by event name${options.tenantLabel ? ' and tenant' : ''}`,
      this.withTenant(['event_name']),
      this.published,
    );
    const unlabelled = new PendingCounts();
    this.sequenced = unlabelled.cell('', {});
    counter(
      'eventsSequenced',
      'Committed events fanned out to their consumers by the sequencer of this instance',
      [],
      unlabelled,
    );
    const claims = new PendingCounts();
    this.claims = claims.cell('', {});
    counter('claims', 'Claims of this instance that leased at least one delivery', [], claims);
    this.claimBatchSize = histogram(
      'claimBatchSize',
      'Deliveries leased per claim',
      CLAIM_BATCH_SIZE_BUCKETS,
    ).child('', {});
    counter(
      'deliveries',
      `Deliveries settled by this instance, by consumer${options.tenantLabel ? ', tenant' : ''} and outcome (processed, retried, dead_lettered, released)`,
      this.withTenant(['consumer', 'outcome']),
      this.deliveries,
    );
    this.handlerDuration = histogram(
      'handlerDuration',
      "Time a consumer's handlers ran for one delivery, successful or failed, in seconds",
      options.handlerDurationBuckets,
    );
    this.timeInOutbox = histogram(
      'timeInOutbox',
      "Seconds from the event's outbox row (the publishing transaction's start) to its delivery settled processed, by consumer",
      options.outboxWaitBuckets,
    );
    counter(
      'leaseLosses',
      'Deliveries this instance could not settle because its lease was gone (another instance owns them)',
      ['consumer'],
      this.leaseLosses,
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
      'Seconds the longest-waiting due delivery among the next 1000 in line of the consumer has been due (0: none due)',
      ['consumer'],
      (gauge, backlog) => {
        for (const c of backlog) gauge.set({ consumer: c.consumer }, (c.oldestDueMs ?? 0) / 1000);
      },
    );
  }

  /** The count of published events named `eventName` (of `tenantId`, with `tenantLabel`). */
  publishedCount(eventName: string, tenantId: string | null): PendingCount {
    const tenant = this.tenantOf(tenantId);
    const key = tenant === undefined ? eventName : `${eventName}\u0000${tenant}`;
    let count = this.publishedByName.get(key);
    if (!count) {
      count = this.published.cell(key, { event_name: eventName, ...this.tenantLabels(tenant) });
      this.publishedByName.set(key, count);
    }
    return count;
  }

  /** The `deliveries_total` counts of `consumer` (for `tenantId`, with `tenantLabel`) by outcome. */
  outcomes(
    consumer: string,
    tenantId: string | null,
  ): Readonly<Record<DeliveryOutcome, PendingCount>> {
    const tenant = this.tenantOf(tenantId);
    const key = tenant === undefined ? consumer : `${consumer}\u0000${tenant}`;
    let outcomes = this.outcomesByKey.get(key);
    if (!outcomes) {
      const cells = {} as Record<DeliveryOutcome, PendingCount>;
      for (const outcome of OUTCOMES) {
        cells[outcome] = this.deliveries.cell(`${key}\u0000${outcome}`, {
          consumer,
          outcome,
          ...this.tenantLabels(tenant),
        });
      }
      outcomes = cells;
      this.outcomesByKey.set(key, outcomes);
    }
    return outcomes;
  }

  /** What is recorded for `consumer` (created on its first event). */
  consumer(consumer: string): ConsumerCells {
    let cells = this.consumers.get(consumer);
    if (!cells) {
      cells = {
        leaseLosses: this.leaseLosses.cell(consumer, { consumer }),
        handlerDuration: this.handlerDuration.child(consumer, { consumer }),
        timeInOutbox: this.timeInOutbox.child(consumer, { consumer }),
      };
      this.consumers.set(consumer, cells);
    }
    return cells;
  }

  /** `labelNames` with `tenant` added when the `tenantLabel` option is on. */
  private withTenant(labelNames: string[]): string[] {
    return this.options.tenantLabel ? [...labelNames, 'tenant'] : labelNames;
  }

  /** The `tenant` label value of an event's tenant (`''`: none); undefined without `tenantLabel`. */
  private tenantOf(tenantId: string | null): string | undefined {
    return this.options.tenantLabel ? (tenantId ?? '') : undefined;
  }

  private tenantLabels(tenant: string | undefined): { tenant?: string } {
    return tenant === undefined ? {} : { tenant };
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
