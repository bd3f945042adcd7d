import { INTEGRATION_HANDLER_METADATA } from '../integration.constants';
import type { HandlerOptions } from './handler.types';

/** Metadata one `@OnIntegrationEvent` leaves on a method. */
export interface IntegrationHandlerMetadata extends HandlerOptions {
  readonly pattern: string;
}

/**
 * Marks a provider method as a handler of integration events matching `pattern`:
 *
 * ```ts
 * @Injectable()
 * export class VaultNotifier {
 *   @OnIntegrationEvent('vault.*', { consumer: 'vault-notifications' })
 *   async onVaultEvent(event: IntegrationEvent<VaultEvent>, ctx: HandlerContext<Prisma.TransactionClient>) {
 *     await ctx.tx.vaultNotification.create({ data: { ... } });
 *   }
 * }
 * ```
 *
 * Only writes metadata; handlers are discovered at bootstrap. A method may carry several
 * decorators for different consumers (one per consumer: a (consumer, method) pair is unique).
 * Patterns are validated at bootstrap.
 */
export function OnIntegrationEvent(pattern: string, options: HandlerOptions): MethodDecorator {
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
