import { DuplicateHandlerError } from '../errors/duplicate-handler.error';
import { InvalidEventPatternError } from '../errors/invalid-event-pattern.error';
import { InvalidHandlerError } from '../errors/invalid-handler.error';
import { EventSubscriberRegistry } from './event-subscriber.registry';
import type { HandlerDefinition } from './handler.types';

const handle = (): void => undefined;
const def = (over: Partial<HandlerDefinition>): HandlerDefinition => ({
  pattern: 'vault.locked',
  consumer: 'c',
  name: 'h',
  handle,
  ...over,
});

describe('EventSubscriberRegistry validation', () => {
  let registry: EventSubscriberRegistry;
  beforeEach(() => {
    registry = new EventSubscriberRegistry();
  });

  it('rejects bad definitions with typed errors naming the handler', () => {
    expect(() => registry.register(def({ pattern: 'nope' as string, name: 'H.m' }))).not.toThrow();
    expect(() => registry.register(def({ pattern: 'bad pattern', name: 'H.p' }))).toThrow(
      InvalidEventPatternError,
    );
    expect(() =>
      registry.register(def({ handle: 'x' as unknown as () => void, name: 'H.f' })),
    ).toThrow('Invalid integration event handler H.f: handle must be a function');
    expect(() => registry.register(def({ name: '' }))).toThrow('name must be a non-empty string');
    expect(() => registry.register(def({ name: 'H.n', priority: Number.NaN }))).toThrow(
      'priority must be a finite number',
    );
    expect(() =>
      registry.register(def({ name: 'H.t', transactional: 'sometimes' as never })),
    ).toThrow("transactional must be 'batch', 'per-event' or false");
    expect(() => registry.register(def({ name: 'H.c', consumer: '' }))).toThrow(
      InvalidHandlerError,
    );
  });

  it('requires one retry policy and one transaction mode per consumer', () => {
    registry.register(def({ name: 'a', retry: { maxAttempts: 3 }, transactional: 'per-event' }));
    registry.register(def({ name: 'b', retry: { maxAttempts: 3 } }));
    expect(registry.getConsumerSettings('c')).toEqual({
      consumer: 'c',
      transactional: 'per-event',
      retry: { maxAttempts: 3 },
      concurrency: 1,
      startFrom: 'now',
    });
    expect(() => registry.register(def({ name: 'd', retry: { maxAttempts: 4 } }))).toThrow(
      'consumer "c" already has a different retry policy',
    );
    expect(() => registry.register(def({ name: 'e', transactional: 'batch' }))).toThrow(
      'already uses transactional: per-event',
    );
    expect(() => registry.register(def({ name: 'a' }))).toThrow(DuplicateHandlerError);
  });

  it('validates concurrency: an integer 1–1000, one value per consumer, not per-event', () => {
    for (const bad of [0, 1.5, 1001, Number.NaN, '4' as unknown as number]) {
      expect(() =>
        registry.register(def({ name: `bad-${String(bad)}`, concurrency: bad })),
      ).toThrow('concurrency must be an integer from 1 to 1000');
    }
    expect(registry.getConsumers()).toEqual([]);
    registry.register(def({ name: 'a' }));
    registry.register(def({ name: 'b', concurrency: 8 }));
    registry.register(def({ name: 'c2' }));
    registry.register(def({ name: 'd', concurrency: 8 }));
    expect(registry.getConsumerSettings('c')?.concurrency).toBe(8);
    expect(() => registry.register(def({ name: 'e', concurrency: 4 }))).toThrow(
      'consumer "c" already uses concurrency 8',
    );
    expect(() => registry.register(def({ name: 'f', transactional: 'per-event' }))).toThrow(
      "concurrency 8 needs transactional: 'batch'",
    );
    expect(() =>
      registry.register(
        def({ consumer: 'x', name: 'g', transactional: 'per-event', concurrency: 2 }),
      ),
    ).toThrow("got 'per-event'");
    expect(registry.getConsumerSettings('x')).toBeUndefined();
    registry.register(def({ consumer: 'z', name: 'g', transactional: false, concurrency: 2 }));
    expect(registry.getConsumerSettings('z')?.concurrency).toBe(2);
    registry.register(
      def({ consumer: 'y', name: 'h', transactional: 'per-event', concurrency: 1 }),
    );
    expect(registry.getConsumerSettings('y')?.concurrency).toBe(1);
  });

  it('forgets a consumer when its last handler is unregistered', () => {
    registry.register(def({ name: 'only', transactional: false }));
    expect(registry.unregister({ consumer: 'c', name: 'only' })).toBe(true);
    expect(registry.getConsumerSettings('c')).toBeUndefined();
    registry.register(def({ name: 'again', transactional: 'batch' }));
    expect(registry.getConsumerSettings('c')?.transactional).toBe('batch');
    registry.register(def({ name: 'wide', concurrency: 4 }));
    registry.unregister({ consumer: 'c', name: 'again' });
    registry.unregister({ consumer: 'c', name: 'wide' });
    registry.register(def({ name: 'narrow', concurrency: 2 }));
    expect(registry.getConsumerSettings('c')?.concurrency).toBe(2);
  });

  it("getConsumerPatterns: a consumer's distinct patterns in registration order", () => {
    registry.register(def({ consumer: 'billing', name: 'b1', pattern: 'billing.*' }));
    registry.register(def({ consumer: 'audit', name: 'a1', pattern: '**' }));
    registry.register(def({ consumer: 'billing', name: 'b2', pattern: 'invoice.**' }));
    registry.register(def({ consumer: 'billing', name: 'b3', pattern: 'billing.*' }));
    expect(registry.getConsumerPatterns('billing')).toEqual(['billing.*', 'invoice.**']);
    expect(registry.getConsumerPatterns('audit')).toEqual(['**']);
    expect(registry.getConsumerPatterns('nobody')).toEqual([]);
    registry.unregister({ consumer: 'billing', name: 'b2' });
    expect(registry.getConsumerPatterns('billing')).toEqual(['billing.*']);
  });
});
