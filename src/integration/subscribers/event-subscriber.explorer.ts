import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { MisplacedHandlerOptionError } from '../errors/misplaced-handler-option.error';
import { RequestScopedHandlerError } from '../errors/request-scoped-handler.error';
import {
  INTEGRATION_CONSUMER_METADATA,
  INTEGRATION_HANDLER_METADATA,
} from '../integration.constants';
import { EventSubscriberRegistry } from './event-subscriber.registry';
import type { IntegrationEventHandlerFn } from './handler.types';
import type { IntegrationConsumerMetadata } from './integration-consumer.decorator';
import type { IntegrationHandlerMetadata } from './on-integration-event.decorator';

/** Keys a method of an `@IntegrationConsumer` class may not set (they belong to the class). */
const CONSUMER_LEVEL_KEYS = [
  'consumer',
  'transactional',
  'retry',
  'concurrency',
  'startFrom',
] as const;

/**
 * Finds `@IntegrationConsumer` classes and `@OnIntegrationEvent` methods on every provider at
 * `onModuleInit`: declares each class's consumer once (its settings), then registers each of its
 * methods. Invalid or duplicate handlers, conflicting consumer declarations, consumer options on
 * a method of a consumer class, and handlers on request-scoped providers fail bootstrap.
 */
@Injectable()
export class EventSubscriberExplorer implements OnModuleInit {
  private readonly logger = new Logger('EventSubscriberExplorer');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
    private readonly registry: EventSubscriberRegistry,
  ) {}

  onModuleInit(): void {
    let found = 0;
    for (const wrapper of this.discovery.getProviders()) found += this.explore(wrapper);
    this.logger.log(`Discovered ${found} integration event handler(s)`);
  }

  private explore(wrapper: InstanceWrapper): number {
    const { instance, metatype } = wrapper;
    const prototype = (
      instance
        ? Object.getPrototypeOf(instance)
        : (metatype as { prototype?: object } | undefined)?.prototype
    ) as Record<string, unknown> | undefined;
    if (!prototype || typeof prototype !== 'object') return 0;
    // The instance's class, not the provider's metatype: for a factory provider that is the factory.
    const cls = (instance ? (instance as object).constructor : metatype) as
      (abstract new (...args: never[]) => unknown) | undefined;
    const consumer =
      typeof cls === 'function'
        ? this.reflector.get<IntegrationConsumerMetadata | undefined>(
            INTEGRATION_CONSUMER_METADATA,
            cls,
          )
        : undefined;
    const methods = this.scanner
      .getAllMethodNames(prototype)
      .map((name) => ({ name, meta: this.metadataOf(prototype[name]) }))
      .filter((m) => m.meta.length > 0);
    if (methods.length === 0 && !consumer) return 0;
    const className = cls?.name || String(wrapper.name);
    if (!wrapper.isDependencyTreeStatic() || !instance)
      throw new RequestScopedHandlerError(className);

    if (consumer) {
      for (const { name, meta } of methods) {
        for (const m of meta) {
          const misplaced = CONSUMER_LEVEL_KEYS.filter((key) => m[key] !== undefined);
          if (misplaced.length) {
            throw new MisplacedHandlerOptionError(
              `${className}.${name}`,
              consumer.consumer,
              misplaced,
            );
          }
        }
      }
      this.registry.registerConsumer(consumer.consumer, consumer.options, className);
      if (methods.length === 0) {
        this.logger.warn(
          `${className} declares consumer "${consumer.consumer}" but has no @OnIntegrationEvent methods`,
        );
      }
    } else {
      this.logger.warn(
        `${className}: @OnIntegrationEvent(pattern, { consumer, ... }) without @IntegrationConsumer ` +
          'is deprecated: declare the class with @IntegrationConsumer(consumer, { transactional, ' +
          'retry, concurrency }) and keep only { priority } on its methods',
      );
    }

    let count = 0;
    for (const { name, meta } of methods) {
      const method = (instance as Record<string, IntegrationEventHandlerFn>)[name]!;
      for (const m of meta) {
        // Legacy form: the method's options pass through whole, so every HandlerOptions field
        // reaches the registry and is validated there.
        this.registry.register({
          ...m,
          consumer: consumer ? consumer.consumer : m.consumer!,
          // In a consumer class one method may take several patterns: each is its own handler.
          name:
            consumer && meta.length > 1
              ? `${className}.${name}(${m.pattern})`
              : `${className}.${name}`,
          handle: (event, ctx) => method.call(instance, event, ctx),
        });
        count++;
      }
    }
    return count;
  }

  private metadataOf(method: unknown): IntegrationHandlerMetadata[] {
    if (typeof method !== 'function') return [];
    return (
      (Reflect.getMetadata(INTEGRATION_HANDLER_METADATA, method) as
        IntegrationHandlerMetadata[] | undefined) ?? []
    );
  }
}
