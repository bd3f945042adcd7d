/**
 * `nestjs-integration/nats`: the NATS JetStream transport. Importing this entry loads nothing
 * of NATS; the client packages (optional peers `@nats-io/transport-node` and
 * `@nats-io/jetstream`) are loaded when the transport connects.
 * @packageDocumentation
 */
export { NatsTransport, natsTransport } from './nats.transport';
export {
  defaultNatsSubject,
  type NatsTransportOptions,
  type NatsInboundOptions,
  type NatsStreamDeclaration,
} from './nats-transport.options';
export { NATS_PACKAGES } from './nats-client.loader';
