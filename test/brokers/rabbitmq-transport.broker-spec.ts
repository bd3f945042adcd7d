import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { connect as amqpConnect, type Channel, type ChannelModel } from 'amqplib';
import type { IntegrationTransport, TransportSubscription } from 'nestjs-integration';
import { rabbitMqTransport } from 'nestjs-integration/rabbitmq';
import {
  connectRecording,
  publishThing,
  publishThingUntilTaken,
  RABBITMQ_URL,
  requireBroker,
} from '../support/brokers';
import { CaptureLogger } from '../support/capture-logger';
import { waitFor } from '../support/wait-for';

/**
 * The RabbitMQ transport when the broker removes what it declared while the connection stays
 * up: an operator deletes the queue (the broker cancels the consumer) or the exchange (the next
 * publish closes the publisher channel). It starts over on a new connection that declares the
 * topology again, as after a lost connection.
 */
describe('RabbitMQ transport: topology removed under it', () => {
  let admin: ChannelModel;
  let channel: Channel;
  let transport: IntegrationTransport;
  let subscription: TransportSubscription | undefined;
  let names: { exchange: string; queue: string };
  const logger = new CaptureLogger();
  let received: string[];

  beforeAll(async () => {
    // Fails, never skips, when the broker is not reachable.
    await requireBroker('RabbitMQ', RABBITMQ_URL);
    admin = await amqpConnect(RABBITMQ_URL);
    channel = await admin.createChannel();
    Logger.overrideLogger(logger);
  });
  beforeEach(async () => {
    const tag = randomBytes(4).toString('hex');
    names = { exchange: `ni.recovery.${tag}`, queue: `ni.recovery.${tag}` };
    transport = rabbitMqTransport({
      url: RABBITMQ_URL,
      exchange: names.exchange,
      reconnectDelayMs: 50,
      inbound: { queue: names.queue, bindings: ['thing.*'] },
    });
    ({ received, subscription } = await connectRecording(transport));
  });
  afterEach(async () => {
    await subscription?.close();
    await transport.close();
    for (const q of [names.queue, `${names.queue}.dead-letter`]) await channel.deleteQueue(q);
    await channel.deleteExchange(names.exchange);
    logger.lines.length = 0;
  });
  // The capture logger stays for the rest of this file (each test file has its own modules).
  afterAll(async () => {
    await admin?.close();
  });

  it('declares the queue again after it was deleted, and consumes from it', async () => {
    await publishThing(transport, 'm1');
    await waitFor(async () => received.includes('m1'), 30_000, 'm1 received');

    await channel.deleteQueue(names.queue);
    await waitFor(
      async () => logger.matching(/^RabbitMQ reconnected$/).length > 0,
      30_000,
      'the transport reconnected',
    );
    expect(logger.matching(/cancelled the consumer of queue .*: reconnecting$/)).toHaveLength(1);

    await publishThingUntilTaken(transport, 'm2');
    await waitFor(async () => received.includes('m2'), 30_000, 'm2 received');
    expect(received).toEqual(['m1', 'm2']);
  });

  it('declares the exchange again after it was deleted, and publishes to it', async () => {
    await channel.deleteExchange(names.exchange);
    // The broker closes the publisher channel on this publish (no such exchange).
    await expect(publishThing(transport, 'm1')).rejects.toThrow();
    await waitFor(
      async () => logger.matching(/^RabbitMQ reconnected$/).length > 0,
      30_000,
      'the transport reconnected',
    );
    expect(logger.matching(/publisher channel closed: reconnecting$/)).toHaveLength(1);

    await publishThingUntilTaken(transport, 'm2');
    await waitFor(async () => received.includes('m2'), 30_000, 'm2 received');
    expect(received).toEqual(['m2']);
  });
});
