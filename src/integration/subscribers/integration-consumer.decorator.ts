import { SetMetadata } from '@nestjs/common';
import { INTEGRATION_CONSUMER_METADATA } from '../integration.constants';
import type { ConsumerOptions } from './handler.types';

/** Metadata `@IntegrationConsumer` leaves on a class. */
export interface IntegrationConsumerMetadata {
  readonly consumer: string;
  readonly options: ConsumerOptions;
}

/**
 * Declares a provider class as one consumer: its settings are given once here, and each method
 * carrying `@OnIntegrationEvent(pattern, { priority? })` is one of its handlers.
 *
 * ```ts
 * @Injectable()
 * @IntegrationConsumer('vault-notifications', { transactional: 'batch' })
 * export class VaultNotifier {
 *   @OnIntegrationEvent('vault.*')
 *   async onVaultEvent(event: EventsMatching<'vault.*'>, ctx: HandlerContext<Prisma.TransactionClient>) {
 *     switch (event.name) { ... } // event.payload narrows by name
 *   }
 * }
 * ```
 *
 * Only writes metadata; the explorer reads it at bootstrap. Two classes may declare the same
 * consumer only with identical options (else `ConflictingConsumerError`); a method of this class
 * that names a consumer or sets consumer options fails bootstrap (`MisplacedHandlerOptionError`).
 *
 * @param consumer consumer name (see `CONSUMER_NAME_PATTERN`); each consumer processes each
 *   event exactly once.
 */
export const IntegrationConsumer = (
  consumer: string,
  options: ConsumerOptions = {},
): ClassDecorator =>
  SetMetadata<string, IntegrationConsumerMetadata>(INTEGRATION_CONSUMER_METADATA, {
    consumer,
    options,
  });
