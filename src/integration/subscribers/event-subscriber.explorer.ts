import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import type { InstanceWrapper } from '@nestjs/core/injector/instance-wrapper';
import { RequestScopedHandlerError } from '../errors/request-scoped-handler.error';
import { INTEGRATION_HANDLER_METADATA } from '../integration.constants';
import { EventSubscriberRegistry } from './event-subscriber.registry';
import type { IntegrationEventHandlerFn } from './handler.types';
import type { IntegrationHandlerMetadata } from './on-integration-event.decorator';

/**
 * Finds `@OnIntegrationEvent` methods on every provider at `onModuleInit` and registers them.
 * Invalid or duplicate handlers, and handlers on request-scoped providers, fail bootstrap.
 */
@Injectable()
export class EventSubscriberExplorer implements OnModuleInit {
  private readonly logger = new Logger('EventSubscriberExplorer');

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
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
    const methods = this.scanner
      .getAllMethodNames(prototype)
      .map((name) => ({ name, meta: this.metadataOf(prototype[name]) }))
      .filter((m) => m.meta.length > 0);
    if (methods.length === 0) return 0;
    const className = (metatype as { name?: string } | undefined)?.name ?? String(wrapper.name);
    if (!wrapper.isDependencyTreeStatic() || !instance)
      throw new RequestScopedHandlerError(className);

    let count = 0;
    for (const { name, meta } of methods) {
      const method = (instance as Record<string, IntegrationEventHandlerFn>)[name]!;
      for (const m of meta) {
        // The decorator's options pass through whole, so every HandlerOptions field (present
        // and future) reaches the registry and is validated there.
        this.registry.register({
          ...m,
          name: `${className}.${name}`,
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
