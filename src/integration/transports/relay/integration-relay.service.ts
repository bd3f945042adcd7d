import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationShutdown,
  type OnModuleInit,
} from '@nestjs/common';
import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import type { IntegrationEvent } from '../../events/integration-event';
import { EventSubscriberRegistry } from '../../subscribers/event-subscriber.registry';
import { toOutgoingMessage } from '../transport-message';
import { INTEGRATION_RELAY_OPTIONS } from './integration-relay.module-definition';
import {
  DEFAULT_RELAY_CONCURRENCY,
  relayOptionProblems,
  type IntegrationRelayOptions,
} from './relay.options';

/**
 * An outbound relay: a consumer of the outbox (`transactional: false`) whose one job is to hand
 * each matching event to its transport, and to report success only once the broker acknowledged
 * it. Everything else is the processor's, as for any consumer: leases, per-key order (one
 * delivery of a key at a time, so one in-flight publish per key), retries with backoff, dead
 * letters, replay, metrics. Up to `concurrency` publishes of different keys are in flight at
 * once (the consumer's lanes). Delivery to the broker is at-least-once (a crash between the ack
 * and the processed mark publishes again); the message id is the event id, so the broker's
 * deduplication or the receiving inbox makes the effect exactly-once.
 *
 * Registered by `IntegrationRelayModule`; connects its transport at module init (before the
 * processor starts) and closes it at application shutdown (after the processor stopped).
 */
@Injectable()
export class IntegrationRelay implements OnModuleInit, OnApplicationShutdown {
  private readonly logger: Logger;

  constructor(
    @Inject(INTEGRATION_RELAY_OPTIONS) private readonly options: IntegrationRelayOptions,
    private readonly registry: EventSubscriberRegistry,
  ) {
    this.logger = new Logger(`IntegrationRelay ${String(options?.consumer)}`);
  }

  /** The relay's consumer name. */
  get consumer(): string {
    return this.options.consumer;
  }

  async onModuleInit(): Promise<void> {
    const problems = relayOptionProblems(this.options);
    if (problems.length) throw new InvalidTransportOptionsError('IntegrationRelayModule', problems);
    const { consumer, transport } = this.options;
    await transport.connect();
    this.registry.registerConsumer(
      consumer,
      {
        transactional: false,
        concurrency: this.options.concurrency ?? DEFAULT_RELAY_CONCURRENCY,
        ...(this.options.retry ? { retry: this.options.retry } : {}),
        ...(this.options.startFrom ? { startFrom: this.options.startFrom } : {}),
      },
      `IntegrationRelayModule(${consumer})`,
    );
    // One handler per pattern; an event matching several is still published once per attempt
    // (the handlers of one delivery share its event object).
    const published = new WeakSet<IntegrationEvent>();
    for (const pattern of this.options.events ?? ['**']) {
      this.registry.register({
        consumer,
        pattern,
        name: `IntegrationRelay(${consumer}, ${pattern})`,
        handle: async (event) => {
          if (published.has(event)) return;
          await this.relay(event);
          published.add(event);
        },
      });
    }
    this.logger.log(
      `Relaying ${(this.options.events ?? ['**']).join(', ')} to ${transport.name} as consumer ${consumer}`,
    );
  }

  /** Publishes one event through the transport; resolves once the broker acknowledged it. */
  relay(event: IntegrationEvent): Promise<void> {
    return this.options.transport.publish(toOutgoingMessage(event));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.options.transport.close();
  }
}
