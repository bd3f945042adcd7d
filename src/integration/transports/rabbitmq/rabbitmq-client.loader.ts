import type * as Amqplib from 'amqplib';
import { TransportPeerMissingError } from '../../errors/transport-peer-missing.error';
import type { ModuleLoader } from '../../outbox/scheduler-registry.loader';

/** The optional peer the RabbitMQ transport needs. */
export const RABBITMQ_PACKAGES = ['amqplib'] as const;

/**
 * Loads `amqplib` (an optional peer) when the transport connects, never at import.
 * @throws TransportPeerMissingError when it is not installed; any other failure to load it (a
 * broken install) is rethrown.
 * @param load - how to load a package; replaceable in tests. @default require
 */
export function loadAmqplib(load: ModuleLoader = require): typeof Amqplib {
  try {
    return load('amqplib') as typeof Amqplib;
  } catch (error) {
    const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
    if (code === 'MODULE_NOT_FOUND' && typeof message === 'string' && message.includes("'amqplib'"))
      throw new TransportPeerMissingError('RabbitMQ', RABBITMQ_PACKAGES, { cause: error });
    throw error;
  }
}
