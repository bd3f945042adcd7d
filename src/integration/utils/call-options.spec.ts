import { isCallOptions } from './call-options';

describe('isCallOptions (surface #3)', () => {
  const keys = ['tx', 'tenantId'] as const;

  it('accepts plain objects with known keys only (surface #3)', () => {
    expect(isCallOptions({}, keys)).toBe(true);
    expect(isCallOptions({ tx: undefined }, keys)).toBe(true);
    expect(isCallOptions({ tx: {}, tenantId: 't' }, keys)).toBe(true);
    expect(isCallOptions(Object.assign(Object.create(null) as object, { tx: 1 }), keys)).toBe(true);
  });

  it('treats anything else as a positional transaction handle (surface #3)', () => {
    class Client {
      query(): void {}
    }
    const knexTrx = Object.assign(() => undefined, { isTransaction: true });
    expect(isCallOptions(undefined, keys)).toBe(false);
    expect(isCallOptions(null, keys)).toBe(false);
    expect(isCallOptions(new Client(), keys)).toBe(false);
    expect(isCallOptions(knexTrx, keys)).toBe(false);
    expect(isCallOptions({ $queryRawUnsafe: () => undefined, user: {} }, keys)).toBe(false);
    expect(isCallOptions('tenant', keys)).toBe(false);
  });
});
