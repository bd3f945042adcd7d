import type {
  IntegrationLifecycleEvent,
  IntegrationLifecycleObserver,
} from '../../processing/lifecycle-events';
import type { SettleDecision } from '../../processing/delivery.types';
import type { DeliveryOutcome, IntegrationMetricSet } from './integration-metric-set';

/** `deliveries_total` outcome of each settle action (`none`: processed in the handler's transaction). */
const OUTCOME: Readonly<Record<SettleDecision['action'], DeliveryOutcome>> = {
  none: 'processed',
  processed: 'processed',
  retry: 'retried',
  'dead-letter': 'dead_lettered',
  release: 'released',
};

/**
 * Feeds the metrics from the pipeline's lifecycle events, and only from them. Runs inside the
 * pipeline's calls: one map look-up and a few additions per event, nothing allocated once a
 * consumer's first event was seen.
 */
export class MetricsObserver implements IntegrationLifecycleObserver {
  constructor(private readonly metrics: IntegrationMetricSet) {}

  onEvent(event: IntegrationLifecycleEvent): void {
    const m = this.metrics;
    switch (event.type) {
      case 'events.published':
        event.names.forEach(
          (name, i) => m.publishedCount(name, event.tenants[i] ?? null).pending++,
        );
        return;
      case 'events.sequenced':
        m.sequenced.pending += event.events;
        return;
      case 'deliveries.claimed':
        m.claims.pending++;
        m.claimBatchSize.observe(event.deliveries.length);
        return;
      case 'delivery.handled': {
        const { fact } = event;
        if (fact.kind === 'handled' || fact.kind === 'failed') {
          m.consumer(event.delivery.consumer).handlerDuration.observe(fact.durationMs / 1000);
        }
        return;
      }
      case 'delivery.settled': {
        const { delivery } = event;
        const outcome = OUTCOME[event.decision.action];
        m.outcomes(delivery.consumer, delivery.event.tenantId)[outcome].pending++;
        if (outcome === 'processed') {
          // created_at is the publishing transaction's start (no commit time is stored).
          const ms = Date.now() - delivery.event.createdAt.getTime();
          m.consumer(delivery.consumer).timeInOutbox.observe(ms > 0 ? ms / 1000 : 0);
        }
        return;
      }
      case 'delivery.lease-lost':
        m.consumer(event.delivery.consumer).leaseLosses.pending++;
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
}
