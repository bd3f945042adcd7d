import { INTEGRATION_HANDLER_METADATA } from '../integration.constants';
import type { HandlerOptions, IntegrationHandlerOptions } from './handler.types';

/** Metadata one `@OnIntegrationEvent` leaves on a method. */
export interface IntegrationHandlerMetadata extends Partial<HandlerOptions> {
  readonly pattern: string;
}

/**
 * Marks a method of an `@IntegrationConsumer` class as a handler of integration events matching
 * `pattern`:
 *
 * ```ts
 * @Injectable()
 * @IntegrationConsumer('vault-notifications')
 * export class VaultNotifier {
 *   @OnIntegrationEvent('vault.*', { priority: 1 })
 *   async onVaultEvent(event: EventsMatching<'vault.*'>, ctx: HandlerContext<Prisma.TransactionClient>) {
 *     await ctx.tx.vaultNotification.create({ data: { ... } });
 *   }
 * }
 * ```
 *
 * Only writes metadata; handlers are discovered at bootstrap. A method may carry several
 * decorators for different patterns. Patterns are validated at bootstrap.
 */
export function OnIntegrationEvent(
  pattern: string,
  options?: IntegrationHandlerOptions,
): MethodDecorator;
/**
 * @deprecated Naming the consumer on the method: declare the class with
 * `@IntegrationConsumer(consumer, { transactional, retry, concurrency })` and keep only
 * `{ priority }` here. Still works on a class without `@IntegrationConsumer` (bootstrap logs one
 * warning per class); refused inside one.
 */
export function OnIntegrationEvent(pattern: string, options: HandlerOptions): MethodDecorator;
export function OnIntegrationEvent(
  pattern: string,
  options: IntegrationHandlerOptions | HandlerOptions = {},
): MethodDecorator {
  return (_target, _key, descriptor) => {
    const method = descriptor.value as object;
    const existing =
      (Reflect.getMetadata(INTEGRATION_HANDLER_METADATA, method) as
        IntegrationHandlerMetadata[] | undefined) ?? [];
    Reflect.defineMetadata(
      INTEGRATION_HANDLER_METADATA,
      [...existing, { ...options, pattern }],
      method,
    );
    return descriptor;
  };
}
