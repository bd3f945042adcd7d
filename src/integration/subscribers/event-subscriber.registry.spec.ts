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
      explicitMode: true,
      retry: { maxAttempts: 3 },
    });
    expect(() => registry.register(def({ name: 'd', retry: { maxAttempts: 4 } }))).toThrow(
      'consumer "c" already has a different retry policy',
    );
    expect(() => registry.register(def({ name: 'e', transactional: 'batch' }))).toThrow(
      'already uses transactional: per-event',
    );
    expect(() => registry.register(def({ name: 'a' }))).toThrow(DuplicateHandlerError);
  });

  it('forgets a consumer when its last handler is unregistered', () => {
    registry.register(def({ name: 'only', transactional: false }));
    expect(registry.unregister({ consumer: 'c', name: 'only' })).toBe(true);
    expect(registry.getConsumerSettings('c')).toBeUndefined();
    registry.register(def({ name: 'again', transactional: 'batch' }));
    expect(registry.getConsumerSettings('c')?.transactional).toBe('batch');
  });
});
