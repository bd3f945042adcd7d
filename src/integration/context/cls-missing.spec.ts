import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';
import { AmbientTransactions } from './ambient-transactions';
import { IntegrationContext } from './integration-context';

// This file's module registry has no nestjs-cls: what an app without the optional peer sees.
jest.mock('nestjs-cls', () => {
  throw Object.assign(new Error("Cannot find module 'nestjs-cls' from 'app'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

describe('context options without nestjs-cls installed', () => {
  it('context.cls fails start-up naming the package to install', () => {
    expect(
      () => new IntegrationContext({ context: { cls: true, transactional: undefined } }),
    ).toThrow(InvalidIntegrationOptionsError);
    expect(
      () =>
        new AmbientTransactions({
          context: { cls: true, transactional: { connectionName: undefined } },
        }),
    ).toThrow(/npm install nestjs-cls/);
  });

  it('without the option nothing is loaded', () => {
    const context = new IntegrationContext({ context: { cls: false, transactional: undefined } });
    expect(context.run({ tenantId: 't' }, () => context.current())).toEqual({ tenantId: 't' });
  });
});
