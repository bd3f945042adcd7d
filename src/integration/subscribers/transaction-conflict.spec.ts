import { isTransactionConflict } from './transaction-conflict';

/** An error shaped like pg's DatabaseError (Knex rethrows it with its query in the message). */
const pgError = (code: string, message = 'deadlock detected') =>
  Object.assign(new Error(message), { code, severity: 'ERROR' });

/** Shaped like Prisma 7's error for a raw query through a driver adapter (as seen on pg 18). */
const prismaRawError = (sqlstate: string) =>
  Object.assign(
    new Error(
      `Invalid \`prisma.$queryRawUnsafe()\` invocation:\n\nRaw query failed. Code: \`${sqlstate}\`.`,
    ),
    {
      name: 'PrismaClientKnownRequestError',
      code: 'P2010',
      meta: {
        driverAdapterError: Object.assign(new Error('DriverAdapterError'), {
          cause: {
            originalCode: sqlstate,
            originalMessage: 'x',
            kind: sqlstate.startsWith('40')
              ? 'TransactionWriteConflict'
              : 'UniqueConstraintViolation',
          },
        }),
      },
    },
  );

describe('isTransactionConflict (hardening #14)', () => {
  it.each<[string, unknown]>([
    ['pg / Knex deadlock', pgError('40P01')],
    ['pg / Knex serialization failure', pgError('40001', 'could not serialize access')],
    ['Prisma P2034', Object.assign(new Error('write conflict or a deadlock'), { code: 'P2034' })],
    ['Prisma raw query, driver adapter', prismaRawError('40P01')],
    [
      'Prisma raw query, message only',
      Object.assign(new Error('Raw query failed. Code: `40001`. Message: `x`'), { code: 'P2010' }),
    ],
    [
      'Prisma raw query, older meta',
      Object.assign(new Error('Raw query failed'), {
        code: 'P2010',
        meta: { code: '40P01', message: 'deadlock detected' },
      }),
    ],
    ['wrapped in a cause', new Error('handler failed', { cause: pgError('40P01') })],
    [
      'wrapped twice',
      new Error('outer', { cause: new Error('inner', { cause: prismaRawError('40001') }) }),
    ],
  ])('recognises %s (hardening #14)', (_label, error) => {
    expect(isTransactionConflict(error)).toBe(true);
  });

  const cyclic = new Error('cyclic') as Error & { cause?: unknown };
  cyclic.cause = cyclic;
  const hostile = Object.defineProperty(new Error('getter'), 'code', {
    get() {
      throw new Error('no');
    },
  });

  it.each<[string, unknown]>([
    ['a unique violation', pgError('23505', 'duplicate key')],
    ['an aborted transaction', pgError('25P02', 'current transaction is aborted')],
    ['another Prisma error', Object.assign(new Error('not found'), { code: 'P2025' })],
    ['a raw query failing otherwise', prismaRawError('23505')],
    ['a plain error', new Error('40P01 in the message only')],
    ['undefined', undefined],
    ['a string', '40P01'],
    ['a cycle of causes', cyclic],
    ['an error whose getter throws', hostile],
  ])('does not take %s for a conflict (hardening #14)', (_label, error) => {
    expect(isTransactionConflict(error)).toBe(false);
  });
});
