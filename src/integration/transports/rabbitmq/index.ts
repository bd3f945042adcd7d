/**
 * `nestjs-integration/rabbitmq`: the RabbitMQ transport. Importing this entry loads nothing of
 * RabbitMQ; the client (optional peer `amqplib`) is loaded when the transport connects.
 * @packageDocumentation
 */
export { RabbitMqTransport, rabbitMqTransport } from './rabbitmq.transport';
export type {
  RabbitMqTransportOptions,
  RabbitMqInboundOptions,
} from './rabbitmq-transport.options';
export { RABBITMQ_PACKAGES } from './rabbitmq-client.loader';
