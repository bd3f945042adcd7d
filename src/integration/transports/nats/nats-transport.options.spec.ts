import { InvalidTransportOptionsError } from '../../errors/invalid-transport-options.error';
import { TransportClosedError } from '../../errors/transport-closed.error';
import { TransportPeerMissingError } from '../../errors/transport-peer-missing.error';
import { loadNatsClient, NATS_PACKAGES } from './nats-client.loader';
import { defaultNatsSubject, natsOptionProblems } from './nats-transport.options';
import { NatsTransport, natsTransport } from './index';

describe('NATS transport options and loading (no broker)', () => {
  it('accepts the defaults and a full configuration', () => {
    expect(natsOptionProblems({})).toEqual([]);
    expect(
      natsOptionProblems({
        servers: ['nats://a:4222'],
        subject: (name) => `x.${name}`,
        streams: [
          { name: 'EVENTS', subjects: ['x.>'], duplicateWindowMs: 60_000, storage: 'memory' },
        ],
        publishTimeoutMs: 1_000,
        inbound: {
          stream: 'EVENTS',
          durable: 'p',
          ackWaitMs: 5_000,
          maxAckPending: 10,
          deadLetterSubject: (s) => `dl.${s}`,
        },
      }),
    ).toEqual([]);
    expect(defaultNatsSubject('vault.locked')).toBe('events.vault.locked');
  });

  it('names every invalid field and how to fix it', () => {
    const problems = natsOptionProblems({
      subject: 'events' as never,
      streams: [
        { name: 'bad name', subjects: [], duplicateWindowMs: -1, storage: 'disk' as never },
      ],
      publishTimeoutMs: 0,
      inbound: {
        stream: '',
        durable: 'a b',
        ackWaitMs: 1.5,
        maxAckPending: 0,
        deadLetterSubject: 'dl' as never,
      },
    });
    expect(problems).toEqual([
      expect.stringContaining('subject must be a function'),
      expect.stringContaining('streams[0].name'),
      expect.stringContaining('streams[0].subjects'),
      expect.stringContaining('streams[0].duplicateWindowMs'),
      expect.stringContaining('streams[0].storage'),
      expect.stringContaining('publishTimeoutMs'),
      expect.stringContaining('inbound.stream'),
      expect.stringContaining('inbound.durable'),
      expect.stringContaining('inbound.ackWaitMs'),
      expect.stringContaining('inbound.maxAckPending'),
      expect.stringContaining('inbound.deadLetterSubject'),
    ]);
    expect(natsOptionProblems(null as never)).toEqual([
      expect.stringContaining('must be an object'),
    ]);
    expect(() => natsTransport({ publishTimeoutMs: -5 })).toThrow(InvalidTransportOptionsError);
  });

  it('loads the clients only when asked, and names the packages to install when one is missing', async () => {
    const missing = (id: string) => {
      throw Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });
    };
    expect(() => loadNatsClient(missing)).toThrow(TransportPeerMissingError);
    expect(() => loadNatsClient(missing)).toThrow(`npm install ${NATS_PACKAGES.join(' ')}`);
    const broken = () => {
      throw new Error('broken install');
    };
    expect(() => loadNatsClient(broken)).toThrow('broken install');
    const transport = new NatsTransport({}, missing);
    await expect(transport.connect()).rejects.toThrow(TransportPeerMissingError);
    await transport.close();
    await expect(transport.connect()).rejects.toThrow(TransportClosedError);
    await expect(
      transport.publish({ id: 'x', name: 'a.b', key: 'k', headers: {}, payload: '{}' }),
    ).rejects.toThrow(TransportClosedError);
    await expect(new NatsTransport({}).subscribe(async () => undefined)).rejects.toThrow(
      /inbound must name the stream/,
    );
  });
});
