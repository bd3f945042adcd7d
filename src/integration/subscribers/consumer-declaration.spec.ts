import { ConflictingConsumerError } from '../errors/conflicting-consumer.error';
import { InvalidHandlerError } from '../errors/invalid-handler.error';
import { JitterMode } from '../utils/retry';
import { sameConsumerOptions, sameRetryPolicy } from './consumer-options';
import { EventSubscriberRegistry } from './event-subscriber.registry';

const handle = (): void => undefined;

describe('consumer declared once (issue 13: class-level consumers)', () => {
  let registry: EventSubscriberRegistry;
  beforeEach(() => {
    registry = new EventSubscriberRegistry();
  });

  it('registerConsumer stores the settings once; handlers then name the consumer only (issue 13 #consumer)', () => {
    expect(
      registry.registerConsumer('ledger', {
        transactional: 'per-event',
        retry: { maxAttempts: 2 },
      }),
    ).toEqual({
      consumer: 'ledger',
      transactional: 'per-event',
      retry: { maxAttempts: 2 },
      concurrency: 1,
      startFrom: 'now',
    });
    registry.register({ pattern: 'vault.*', consumer: 'ledger', name: 'a', handle });
    registry.register({ pattern: 'vault.opened', consumer: 'ledger', name: 'b', handle });
    expect(registry.getConsumerSettings('ledger')).toEqual({
      consumer: 'ledger',
      transactional: 'per-event',
      retry: { maxAttempts: 2 },
      concurrency: 1,
      startFrom: 'now',
    });
    // A handler's own options must agree with the declaration, "no retry policy" included.
    expect(() =>
      registry.register({
        pattern: 'vault.x',
        consumer: 'ledger',
        name: 'c',
        handle,
        transactional: 'batch',
      }),
    ).toThrow('already uses transactional: per-event');
    registry.registerConsumer('plain');
    expect(() =>
      registry.register({
        pattern: 'vault.x',
        consumer: 'plain',
        name: 'd',
        handle,
        retry: { maxAttempts: 3 },
      }),
    ).toThrow('already has a different retry policy');
    registry.register({
      pattern: 'vault.x',
      consumer: 'plain',
      name: 'e',
      handle,
      transactional: 'batch',
    });
    // The declaration outlives its handlers.
    registry.unregister({ consumer: 'plain', name: 'e' });
    expect(registry.getConsumerSettings('plain')?.transactional).toBe('batch');
  });

  it('declaring a consumer twice: identical options are fine, different ones are refused (issue 13 #same-name)', () => {
    registry.registerConsumer(
      'n',
      { retry: { maxAttempts: 3, jitter: JitterMode.None }, concurrency: 4 },
      'A',
    );
    // Same fields in another order, defaults spelled out: identical.
    expect(() =>
      registry.registerConsumer(
        'n',
        {
          concurrency: 4,
          transactional: 'batch',
          retry: { jitter: JitterMode.None, maxAttempts: 3 },
        },
        'B',
      ),
    ).not.toThrow();
    const differs = () =>
      registry.registerConsumer('n', { concurrency: 4, retry: { maxAttempts: 3 } }, 'C');
    expect(differs).toThrow(ConflictingConsumerError);
    expect(differs).toThrow(/Consumer "n" is declared by A and again by C/);
    expect(() =>
      registry.registerConsumer('n', { retry: { maxAttempts: 3, jitter: JitterMode.None } }, 'D'),
    ).toThrow(ConflictingConsumerError);
    expect(registry.getConsumerSettings('n')?.concurrency).toBe(4);
  });

  it('a declaration must agree with options its handlers set earlier (issue 13 #legacy)', () => {
    registry.register({ pattern: 'a.b', consumer: 'l', name: 'h', handle, transactional: false });
    expect(() => registry.registerConsumer('l', {}, 'Late')).toThrow(ConflictingConsumerError);
    registry.registerConsumer('l', { transactional: false }, 'Late');
    expect(registry.getConsumerSettings('l')?.transactional).toBe(false);
  });

  it('refuses invalid declarations before storing anything (issue 13 #validation)', () => {
    expect(() => registry.registerConsumer('bad name')).toThrow(InvalidHandlerError);
    expect(() => registry.registerConsumer('c', { concurrency: 0 })).toThrow(
      'concurrency must be an integer from 1 to 1000',
    );
    expect(() => registry.registerConsumer('c', { retry: { maxAttempts: 0 } })).toThrow(
      InvalidHandlerError,
    );
    expect(() =>
      registry.registerConsumer('c', { transactional: 'per-event', concurrency: 2 }),
    ).toThrow("concurrency 2 needs transactional: 'batch' (events side by side");
    expect(() => registry.registerConsumer('c', { transactional: 'always' as never })).toThrow(
      "transactional must be 'batch', 'per-event' or false",
    );
    expect(registry.getConsumerSettings('c')).toBeUndefined();
  });

  it('compares retry policies field by field, not as JSON text (issue 13 #identical)', () => {
    expect(
      sameRetryPolicy({ maxAttempts: 2, baseDelayMs: 1 }, { baseDelayMs: 1, maxAttempts: 2 }),
    ).toBe(true);
    expect(sameRetryPolicy({ maxAttempts: 2, baseDelayMs: undefined }, { maxAttempts: 2 })).toBe(
      true,
    );
    expect(sameRetryPolicy({ maxAttempts: 2 }, undefined)).toBe(false);
    expect(sameRetryPolicy(undefined, undefined)).toBe(true);
    expect(sameRetryPolicy({ maxAttempts: 2 }, { maxAttempts: 3 })).toBe(false);
    expect(sameRetryPolicy({ maxAttempts: 2 }, { maxAttempts: 2, maxDelayMs: 5 })).toBe(false);
    const base = {
      transactional: 'batch' as const,
      concurrency: 1,
      retry: undefined,
      startFrom: 'now' as const,
    };
    expect(sameConsumerOptions(base, { ...base })).toBe(true);
    expect(sameConsumerOptions(base, { ...base, startFrom: 'retained' })).toBe(false);
    expect(sameConsumerOptions(base, { ...base, concurrency: 2 })).toBe(false);
    expect(sameConsumerOptions(base, { ...base, transactional: 'per-event' })).toBe(false);
  });
});
