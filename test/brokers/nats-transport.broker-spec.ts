import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { IntegrationTransport, TransportSubscription } from 'nestjs-integration';
import { natsTransport } from 'nestjs-integration/nats';
import {
  connectRecording,
  NATS_URL,
  publishThing,
  publishThingUntilTaken,
  requireBroker,
} from '../support/brokers';
import { CaptureLogger } from '../support/capture-logger';
import { waitFor } from '../support/wait-for';

/**
 * The NATS transport on its own, against the server: a message held past its ack wait, and
 * what the server loses while the connection stays up (an operator deletes the durable
 * consumer or the stream: the transport declares them again, as at connect, and goes on).
 */
describe('NATS transport', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let transport: IntegrationTransport;
  let subscription: TransportSubscription | undefined;
  let names: { prefix: string; stream: string; durable: string };
  const logger = new CaptureLogger();
  let received: string[];

  beforeAll(async () => {
    // Fails, never skips, when the broker is not reachable.
    await requireBroker('NATS', NATS_URL);
    nc = await connect({ servers: NATS_URL });
    jsm = await jetstreamManager(nc);
    Logger.overrideLogger(logger);
  });
  beforeEach(async () => {
    const tag = randomBytes(4).toString('hex');
    names = { prefix: `nirec${tag}`, stream: `NIREC_${tag}`, durable: 'projection' };
    transport = natsTransport({
      servers: NATS_URL,
      subject: (name) => `${names.prefix}.${name}`,
      streams: [{ name: names.stream, subjects: [`${names.prefix}.>`], storage: 'memory' }],
      inbound: { stream: names.stream, durable: names.durable, ackWaitMs: 1_000 },
    });
    ({ received, subscription } = await connectRecording(transport));
  });
  afterEach(async () => {
    await subscription?.close();
    await transport.close();
    await jsm.streams.delete(names.stream).catch(() => undefined);
    logger.lines.length = 0;
  });
  // The capture logger stays for the rest of this file (each test file has its own modules).
  afterAll(async () => {
    await nc?.close();
  });

  it('keeps a message it holds past the ack wait: JetStream does not deliver it again meanwhile', async () => {
    // ackWaitMs is 1 s here: this handler holds its message for 3.5 s before acknowledging it.
    await subscription?.close();
    const seen: string[] = [];
    const acked: string[] = [];
    subscription = await transport.subscribe!(async (message) => {
      seen.push(`${message.id}#${message.deliveryCount}`);
      setTimeout(() => void message.ack().then(() => acked.push(message.id)), 3_500);
    });
    await publishThing(transport, 'm1');
    await waitFor(async () => acked.includes('m1'), 30_000, 'm1 acknowledged');
    // Longer than an ack wait after the ack: a redelivery would have arrived by now.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(seen).toEqual(['m1#1']);
  });

  it('declares the durable consumer again after it was deleted, and pulls from it', async () => {
    await publishThing(transport, 'm1');
    await waitFor(async () => received.includes('m1'), 30_000, 'm1 received');

    await jsm.consumers.delete(names.stream, names.durable);
    await publishThing(transport, 'm2');
    await waitFor(async () => received.includes('m2'), 30_000, 'm2 received');
    expect(
      logger.matching(/durable projection of stream .* not found: declaring the topology again$/),
    ).not.toHaveLength(0);
    // The new durable starts at the stream's first message: m1 comes again (an inbound module's
    // inbox would drop it), then m2.
    expect(received).toEqual(['m1', 'm1', 'm2']);
  });

  it('declares the stream again after it was deleted, and pulls from it', async () => {
    await jsm.streams.delete(names.stream);
    await publishThingUntilTaken(transport, 'm2');
    await waitFor(async () => received.includes('m2'), 30_000, 'm2 received');
    expect(received).toEqual(['m2']);
  });

  it('a relaying transport declares its streams again when a publish finds none', async () => {
    // Only the relaying side: no pull loop to notice the loss.
    const relaying = natsTransport({
      servers: NATS_URL,
      subject: (name) => `${names.prefix}.${name}`,
      streams: [{ name: names.stream, subjects: [`${names.prefix}.>`], storage: 'memory' }],
    });
    await relaying.connect();
    try {
      await subscription?.close();
      subscription = undefined;
      await jsm.streams.delete(names.stream);
      await expect(publishThing(relaying, 'r1')).rejects.toThrow(
        /^No JetStream stream stores subject nirec.*\.thing\.made/,
      );
      await publishThingUntilTaken(relaying, 'r1');
      expect((await jsm.streams.info(names.stream)).state.messages).toBe(1);
      expect(
        logger.matching(/^No JetStream stream stores subject .*: declaring the topology again$/),
      ).toHaveLength(1);
    } finally {
      await relaying.close();
    }
  });
});
