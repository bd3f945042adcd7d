import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import { TransportClosedError } from '../../errors/transport-closed.error';
import { TransportPeerMissingError } from '../../errors/transport-peer-missing.error';
import { loadAmqplib } from './rabbitmq-client.loader';
import { rabbitMqOptionProblems } from './rabbitmq-transport.options';
import { RabbitMqTransport, rabbitMqTransport } from './index';

describe('RabbitMQ transport options and loading (no broker)', () => {
  it('accepts the defaults and a full configuration', () => {
    expect(rabbitMqOptionProblems({})).toEqual([]);
    expect(
      rabbitMqOptionProblems({
        url: 'amqp://u:p@h:5672',
        exchange: 'events',
        routingKey: (name) => name,
        publishTimeoutMs: 1_000,
        reconnectDelayMs: 50,
        inbound: { queue: 'q', bindings: ['vault.*'], prefetch: 5, deadLetterQueue: 'q.dl' },
      }),
    ).toEqual([]);
  });

  it('names every invalid field and how to fix it', () => {
    expect(
      rabbitMqOptionProblems({
        exchange: 'bad name',
        routingKey: 'x' as never,
        publishTimeoutMs: 0,
        reconnectDelayMs: 1.5,
        inbound: { queue: '', bindings: [], prefetch: -1, deadLetterQueue: 'a b' },
      }),
    ).toEqual([
      expect.stringContaining('exchange must be'),
      expect.stringContaining('routingKey must be a function'),
      expect.stringContaining('publishTimeoutMs'),
      expect.stringContaining('reconnectDelayMs'),
      expect.stringContaining('inbound.queue'),
      expect.stringContaining('inbound.bindings'),
      expect.stringContaining('inbound.prefetch'),
      expect.stringContaining('inbound.deadLetterQueue'),
    ]);
    expect(rabbitMqOptionProblems(null as never)).toEqual([
      expect.stringContaining('must be an object'),
    ]);
    expect(() => rabbitMqTransport({ publishTimeoutMs: -1 })).toThrow(InvalidTransportOptionsError);
  });

  it('loads amqplib only when asked, and names the package to install when it is missing', async () => {
    const missing = (id: string) => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => loadAmqplib(missing)).toThrow(TransportPeerMissingError);
    expect(() => loadAmqplib(missing)).toThrow('npm install amqplib');
    expect(() =>
      loadAmqplib(() => {
        throw new Error('broken install');
      }),
    ).toThrow('broken install');
    const transport = new RabbitMqTransport({}, missing);
    await expect(transport.connect()).rejects.toThrow(TransportPeerMissingError);
    await transport.close();
    await expect(transport.connect()).rejects.toThrow(TransportClosedError);
    await expect(
      transport.publish({ id: 'x', name: 'a.b', key: 'k', headers: {}, payload: '{}' }),
    ).rejects.toThrow(TransportClosedError);
    await expect(new RabbitMqTransport({}).subscribe(async () => undefined)).rejects.toThrow(
      /inbound must name the queue/,
    );
  });
});
