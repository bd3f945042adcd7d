import { describeDatabaseError } from './database-error';
import { withoutSqlText } from './knex.adapter';

describe('describeDatabaseError (hardening #12)', () => {
  it('takes the server code and message from a Prisma driver-adapter error, not its call frame', () => {
    const prismaError = Object.assign(
      new Error(
        '\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\n\nRaw query failed. Code: `42P01`. Message: `relation "outbox_event" does not exist`',
      ),
      {
        code: 'P2010',
        meta: {
          driverAdapterError: {
            cause: {
              originalCode: '42P01',
              originalMessage: 'relation "outbox_event" does not exist',
            },
          },
        },
      },
    );
    expect(describeDatabaseError(prismaError)).toBe('42P01 relation "outbox_event" does not exist');
  });

  it('uses the last line of a Prisma frame without adapter details', () => {
    const error = new Error(
      "\nInvalid `prisma.$queryRawUnsafe()` invocation:\n\nCan't reach database server",
    );
    expect(describeDatabaseError(error)).toBe("Can't reach database server");
  });

  it('keeps a pg error to its code and first line', () => {
    const error = Object.assign(new Error('deadlock detected\nDETAIL: Process 1 waits'), {
      code: '40P01',
    });
    expect(describeDatabaseError(error)).toBe('40P01 deadlock detected');
  });

  it('reads an AggregateError of refused connections from its first error', () => {
    const error = Object.assign(
      new AggregateError([new Error('connect ECONNREFUSED ::1:5432')], ''),
      { code: 'ECONNREFUSED' },
    );
    expect(describeDatabaseError(error)).toBe('ECONNREFUSED connect ECONNREFUSED ::1:5432');
  });

  it('describes non-errors and bounds the length', () => {
    expect(describeDatabaseError('boom\nmore')).toBe('boom');
    expect(describeDatabaseError(undefined)).toBe('undefined');
    expect(describeDatabaseError(new Error(''))).toBe('Error');
    const long = describeDatabaseError(new Error('x'.repeat(1_000)));
    expect(long).toHaveLength(300);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('withoutSqlText (hardening #12)', () => {
  it('removes the statement Knex puts before the server message', () => {
    const error = new Error(
      'SELECT * FROM t WHERE a = $1 AND b = $2 - relation "t" does not exist',
    );
    expect(withoutSqlText(error, 'SELECT * FROM t WHERE a = ? AND b = ?')).toBe(error);
    expect(error.message).toBe('relation "t" does not exist');
  });

  it('leaves other errors as they are', () => {
    const error = new Error('connect ECONNREFUSED 127.0.0.1:1');
    withoutSqlText(error, 'SELECT 1');
    expect(error.message).toBe('connect ECONNREFUSED 127.0.0.1:1');
    expect(withoutSqlText('text', 'SELECT 1')).toBe('text');
  });
});
