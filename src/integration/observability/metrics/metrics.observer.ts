import type {
  IntegrationLifecycleEvent,
  IntegrationLifecycleObserver,
} from '../../processing/lifecycle-events';
import type { IntegrationMetricSet } from './integration-metric-set';
import type { PromCounter, PromHistogram } from './prom-client.loader';

/** `deliveries_total` outcome of each settle action. */
const OUTCOME = {
  none: 'processed',
  processed: 'processed',
  retry: 'retried',
  'dead-letter': 'dead_lettered',
  release: 'released',
} as const;

/**
 * Feeds the metrics from the pipeline's lifecycle events, and only from them. Runs inside the
 * pipeline's calls: a few map look-ups and additions per event (label children are cached).
 */
export class MetricsObserver implements IntegrationLifecycleObserver {
  private readonly counters = new Map<string, PromCounter>();
  private readonly histograms = new Map<string, PromHistogram>();

  constructor(private readonly metrics: IntegrationMetricSet) {}

  onEvent(event: IntegrationLifecycleEvent): void {
    const m = this.metrics;
    switch (event.type) {
      case 'events.published':
        for (const name of event.names) this.counter(m.eventsPublished, 'p', name).inc();
        return;
      case 'events.sequenced':
        m.eventsSequenced.inc(event.events);
        return;
      case 'deliveries.claimed':
        m.claims.inc();
        m.claimBatchSize.observe(event.deliveries.length);
        return;
      case 'delivery.handled': {
        const { fact, delivery } = event;
        if (fact.kind === 'handled' || fact.kind === 'failed') {
          this.histogram(m.handlerDuration, 'h', delivery.consumer).observe(fact.durationMs / 1000);
        }
        return;
      }
      case 'delivery.settled': {
        const { delivery, decision } = event;
        const outcome = OUTCOME[decision.action];
        this.counter(m.deliveries, 'd', delivery.consumer, outcome).inc();
        if (outcome === 'processed') {
          // created_at is the publishing transaction's start (no commit time is stored).
          const seconds = Math.max(0, Date.now() - delivery.event.createdAt.getTime()) / 1000;
          this.histogram(m.timeInOutbox, 'o', delivery.consumer).observe(seconds);
        }
        return;
      }
      case 'delivery.lease-lost':
        this.counter(m.leaseLosses, 'l', event.delivery.consumer).inc();
        return;
      case 'listener.up':
        m.listenerConnected.set(1);
        return;
      case 'listener.down':
      case 'processor.stopped':
        m.listenerConnected.set(0);
        return;
      default:
        return;
    }
  }

  /** The child of `metric` for `labels`, cached under `tag` (which metric) and the labels. */
  private counter(metric: PromCounter, tag: string, ...labels: string[]): PromCounter {
    const key = `${tag}\u0000${labels.join('\u0000')}`;
    let child = this.counters.get(key);
    if (!child) {
      child = metric.labels(...labels);
      this.counters.set(key, child);
    }
    return child;
  }

  private histogram(metric: PromHistogram, tag: string, ...labels: string[]): PromHistogram {
    const key = `${tag}\u0000${labels.join('\u0000')}`;
    let child = this.histograms.get(key);
    if (!child) {
      child = metric.labels(...labels);
      this.histograms.set(key, child);
    }
    return child;
  }
}
