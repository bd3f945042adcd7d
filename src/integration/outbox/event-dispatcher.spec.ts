import type { OutboxEventRecord } from '../events/integration-event';
import { errorMessage, perEventDispatcher } from './event-dispatcher';

const event = (id: string, orderingKey: string): OutboxEventRecord =>
  ({ id, orderingKey }) as OutboxEventRecord;
const context = { workerId: 'w', isStopping: () => false };

describe('errorMessage', () => {
  it('makes anything thrown readable', () => {
    expect(errorMessage(new RangeError('too big'))).toBe('RangeError: too big');
    expect(errorMessage('plain')).toBe('plain');
    expect(errorMessage({ code: 42 })).toBe('Non-Error thrown: {"code":42}');
    expect(errorMessage(undefined)).toBe('Non-Error thrown: undefined');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(errorMessage(cyclic)).toBe('Non-Error thrown: [object Object]');
    expect(errorMessage(Symbol('gone'))).toBe('Non-Error thrown: Symbol(gone)');
    expect(errorMessage(() => 1)).toBe('Non-Error thrown: () => 1');
  });
});

describe('perEventDispatcher', () => {
  it('runs each key in order, defers the rest of a key after a failure, keeps other keys going', async () => {
    const calls: string[] = [];
    const dispatcher = perEventDispatcher(async (e) => {
      calls.push(e.id);
      if (e.id === 'a2') throw new Error('boom');
    });
    const outcomes = await dispatcher.dispatchBatch(
      [event('a1', 'a'), event('b1', 'b'), event('a2', 'a'), event('a3', 'a'), event('b2', 'b')],
      context,
    );
    expect(outcomes).toEqual([
      { status: 'processed' },
      { status: 'processed' },
      { status: 'failed', error: 'Error: boom' },
      { status: 'deferred' },
      { status: 'processed' },
    ]);
    expect(calls.indexOf('a1')).toBeLessThan(calls.indexOf('a2'));
    expect(calls).not.toContain('a3');
  });

  it('starts nothing once stopping', async () => {
    const dispatcher = perEventDispatcher(async () => undefined, { concurrency: 1 });
    const outcomes = await dispatcher.dispatchBatch([event('x', 'x')], {
      workerId: 'w',
      isStopping: () => true,
    });
    expect(outcomes).toEqual([{ status: 'deferred' }]);
  });
});
