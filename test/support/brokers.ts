import { connect as tcpConnect, createServer, type Server, type Socket } from 'node:net';
import type { IntegrationTransport, TransportSubscription } from 'nestjs-integration';
import { waitFor } from './wait-for';

/** Where the NATS server of the broker suites listens. */
export const NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';

/** Where the RabbitMQ server of the broker suites listens. */
export const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

/** Host and port of a `nats://` or `amqp://` URL. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url.replace(/^[a-z]+:/, 'http:'));
  return { host: u.hostname, port: Number(u.port || (url.startsWith('amqp') ? 5672 : 4222)) };
}

/**
 * Fails (never skips) when nothing accepts TCP connections at `url`: the broker suites are run
 * on purpose, so a missing broker is an error that says how to start one.
 */
export async function requireBroker(name: string, url: string): Promise<void> {
  const { host, port } = hostPort(url);
  await new Promise<void>((resolve, reject) => {
    const socket = tcpConnect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error('timed out')), 3_000);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (error) => {
      clearTimeout(timer);
      reject(
        new Error(
          `${name} is not reachable at ${url} (${error.message}): start it (docker compose up -d ${name.toLowerCase()}) or point the suite at one; the broker suites fail rather than skip`,
        ),
      );
    });
  });
}

/**
 * A TCP proxy in front of a broker: clients connect to `url`; {@link cut} closes every proxied
 * connection at once, as a server dropping its clients would (the client then reconnects through
 * the proxy).
 */
export interface BrokerProxy {
  readonly url: string;
  /** Connections proxied so far. */
  readonly connections: number;
  /** Destroys every open connection (both sides). */
  cut(): number;
  close(): Promise<void>;
}

export async function startBrokerProxy(target: string): Promise<BrokerProxy> {
  const scheme = target.slice(0, target.indexOf(':'));
  const u = new URL(target.replace(/^[a-z]+:/, 'http:'));
  const auth = u.username ? `${u.username}:${u.password}@` : '';
  const { host, port } = hostPort(target);
  const open = new Set<Socket>();
  let connections = 0;
  const server: Server = createServer((client) => {
    connections++;
    const upstream = tcpConnect({ host, port });
    // Without it, Nagle's algorithm and delayed acks add ~40 ms to every round trip.
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    open.add(client);
    open.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    url: `${scheme}://${auth}127.0.0.1:${address.port}`,
    get connections() {
      return connections;
    },
    cut: () => {
      const n = open.size / 2;
      for (const socket of open) socket.destroy();
      open.clear();
      return n;
    },
    close: async () => {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Publishes a `thing.made` message whose id and ordering key are `id`, through `transport`. */
export function publishThing(transport: IntegrationTransport, id: string): Promise<void> {
  return transport.publish({ id, name: 'thing.made', key: id, headers: {}, payload: '{}' });
}

/**
 * Publishes like {@link publishThing} until the broker takes the message: publishes fail while
 * a transport starts over (reconnects, declares its topology again).
 */
export async function publishThingUntilTaken(
  transport: IntegrationTransport,
  id: string,
): Promise<void> {
  await waitFor(
    () =>
      publishThing(transport, id).then(
        () => true,
        () => false,
      ),
    30_000,
    `${id} published`,
  );
}

/**
 * Connects `transport` and takes its messages in, acknowledging each at once; `received` lists
 * their ids in arrival order.
 */
export async function connectRecording(
  transport: IntegrationTransport,
): Promise<{ received: string[]; subscription: TransportSubscription }> {
  await transport.connect();
  if (!transport.subscribe) throw new Error(`the ${transport.name} transport takes nothing in`);
  const received: string[] = [];
  const subscription = await transport.subscribe(async (message) => {
    received.push(message.id);
    await message.ack();
  });
  return { received, subscription };
}
