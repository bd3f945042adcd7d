import type * as NatsCore from '@nats-io/transport-node';
import type * as NatsJetStream from '@nats-io/jetstream';
import { TransportPeerMissingError } from '../../errors/transport-peer-missing.error';
import type { ModuleLoader } from '../../outbox/scheduler-registry.loader';

/** The optional peers the NATS transport needs. */
export const NATS_PACKAGES = ['@nats-io/transport-node', '@nats-io/jetstream'] as const;

/** The two NATS client packages, as loaded. */
export interface NatsClient {
  readonly core: typeof NatsCore;
  readonly jetstream: typeof NatsJetStream;
}

/**
 * Loads the NATS client packages (optional peers) when the transport connects, never at import.
 * @throws TransportPeerMissingError when one of them is not installed; any other failure to load
 * them (a broken install) is rethrown.
 * @param load - how to load a package; replaceable in tests. @default require
 */
export function loadNatsClient(load: ModuleLoader = require): NatsClient {
  const loaded: unknown[] = [];
  for (const id of NATS_PACKAGES) {
    try {
      loaded.push(load(id));
    } catch (error) {
      const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
      if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes(`'${id}'`))
        throw new TransportPeerMissingError('NATS', NATS_PACKAGES, { cause: error });
      throw error;
    }
  }
  return { core: loaded[0] as typeof NatsCore, jetstream: loaded[1] as typeof NatsJetStream };
}
