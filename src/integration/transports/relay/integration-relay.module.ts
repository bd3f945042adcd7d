import { Module, type DynamicModule } from '@nestjs/common';
import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import {
  ConfigurableRelayModule,
  type RELAY_ASYNC_OPTIONS_TYPE,
  type RELAY_OPTIONS_TYPE,
} from './integration-relay.module-definition';
import { IntegrationRelay } from './integration-relay.service';

/**
 * Relays outbox events to a broker, as a consumer of the outbox:
 *
 * ```ts
 * import { natsTransport } from 'nestjs-integration/nats';
 *
 * IntegrationRelayModule.forRoot({
 *   consumer: 'nats-relay',
 *   events: ['vault.*'],
 *   transport: natsTransport({ servers: 'nats://127.0.0.1:4222', stream: { name: 'VAULT', subjects: ['vault.>'] } }),
 * })
 * ```
 *
 * Needs `IntegrationModule` (global by default) with its processor running in some instance.
 * Import it once per relay (each with its own consumer name and transport).
 */
@Module({ providers: [IntegrationRelay], exports: [IntegrationRelay] })
export class IntegrationRelayModule extends ConfigurableRelayModule {
  /** Configures one relay. Options are validated at module init. */
  static override forRoot(options: typeof RELAY_OPTIONS_TYPE): DynamicModule {
    if (typeof options !== 'object' || options === null)
      throw new InvalidTransportOptionsError('IntegrationRelayModule', [
        `IntegrationRelayModule.forRoot() needs an options object such as { consumer: 'nats-relay', transport } (got ${String(options)})`,
      ]);
    return super.forRoot(options);
  }

  /** Configures one relay from a factory (`useFactory` + `inject`), `useClass` or `useExisting`. */
  static override forRootAsync(options: typeof RELAY_ASYNC_OPTIONS_TYPE): DynamicModule {
    return super.forRootAsync(options);
  }
}
