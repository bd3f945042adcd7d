import { loadClsService, loadTransactionHostLookup } from './cls-peers';

const missing = (id: string) =>
  Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });

describe('optional nestjs-cls peers', () => {
  it('are undefined when not installed', () => {
    expect(
      loadClsService((id) => {
        throw missing(id);
      }),
    ).toBeUndefined();
    expect(
      loadTransactionHostLookup((id) => {
        throw missing(id);
      }),
    ).toBeUndefined();
  });

  it('rethrow any other failure (a broken install)', () => {
    expect(() =>
      loadClsService(() => {
        throw missing('async-hooks-helper');
      }),
    ).toThrow(/async-hooks-helper/);
  });

  it('are undefined when the package lacks what the module calls', () => {
    expect(loadClsService(() => ({}))).toBeUndefined();
    expect(loadTransactionHostLookup(() => ({ TransactionHost: {} }))).toBeUndefined();
  });

  it('load the installed packages', () => {
    expect(loadClsService()?.isActive()).toBe(false);
    const lookup = loadTransactionHostLookup();
    expect(lookup).toBeInstanceOf(Function);
    // No ClsPluginTransactional registered in this process for that name.
    expect(() => lookup!('nobody')).toThrow(/TransactionHost not initialized/);
  });
});
