import { Module, type DynamicModule } from '@nestjs/common';
import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import {
  ConfigurableInboundModule,
  type INBOUND_ASYNC_OPTIONS_TYPE,
  type INBOUND_OPTIONS_TYPE,
} from './integration-inbound.module-definition';
import { IntegrationInbound } from './integration-inbound.service';

/**
 * Takes broker messages into this app's consumers, exactly once per (message id, consumer):
 *
 * ```ts
 * import { natsTransport } from 'nestjs-integration/nats';
 *
 * IntegrationInboundModule.forRoot({
 *   consumers: ['vault-projection'],
 *   transport: natsTransport({ servers: 'nats://127.0.0.1:4222', inbound: { stream: 'VAULT', durable: 'projection' } }),
 * })
 * ```
 *
 * Needs `IntegrationModule` (global by default): the inbox and handlers are its.
 */
@Module({ providers: [IntegrationInbound], exports: [IntegrationInbound] })
export class IntegrationInboundModule extends ConfigurableInboundModule {
  /** Configures one inbound subscription. Options are validated at module init. */
  static override forRoot(options: typeof INBOUND_OPTIONS_TYPE): DynamicModule {
    if (typeof options !== 'object' || options === null)
      throw new InvalidTransportOptionsError('IntegrationInboundModule', [
        `IntegrationInboundModule.forRoot() needs an options object such as { transport, consumers: ['projection'] } (got ${String(options)})`,
      ]);
    return super.forRoot(options);
  }

  /** Configures it from a factory (`useFactory` + `inject`), `useClass` or `useExisting`. */
  static override forRootAsync(options: typeof INBOUND_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }
}
