import { firstLine } from './handler-invoker';

describe('firstLine (the error part of a handler failure log line)', () => {
  it('keeps the first line of a multi-line message', () => {
    expect(firstLine(new Error('boom\n  at somewhere\nmore'))).toBe('Error: boom');
  });

  it('joins a name standing alone with the next non-blank line (Prisma)', () => {
    const error = Object.assign(
      new Error('\nInvalid `tx.thing.create()` invocation in\n/app/x.ts:1\n\nUnique'),
      {
        name: 'PrismaClientKnownRequestError',
        code: 'P2002',
      },
    );
    expect(firstLine(error)).toBe(
      'PrismaClientKnownRequestError: Invalid `tx.thing.create()` invocation in [P2002]',
    );
  });

  it('adds a code only when the line does not already name it', () => {
    const error = Object.assign(new Error('duplicate key (23505)'), { code: '23505' });
    expect(firstLine(error)).toBe('Error: duplicate key (23505)');
  });

  it('handles non-errors and \\r line breaks', () => {
    expect(firstLine('one\r\ntwo')).toBe('one');
    expect(firstLine({ reason: 'x' })).toBe('Non-Error thrown: {"reason":"x"}');
    expect(firstLine(null)).toBe('Non-Error thrown: null');
  });
});
