import { IntegrationError } from './integration.error';

/** A transport was used before `connect()` or after `close()`. */
export class TransportClosedError extends IntegrationError {
  override readonly name = 'TransportClosedError';

  constructor(
    readonly transport: string,
    readonly operation: string,
  ) {
    super(
      `Cannot ${operation}: the ${transport} transport is not connected. Let IntegrationRelayModule ` +
        'or IntegrationInboundModule connect it (they call connect() at module init), or call ' +
        'connect() yourself first; a closed transport cannot be reused.',
    );
  }
}
