import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';
import { AmbientTransactions } from './ambient-transactions';

// This file's module registry has no @nestjs-cls/transactional (nestjs-cls is installed).
jest.mock('@nestjs-cls/transactional', () => {
  throw Object.assign(new Error("Cannot find module '@nestjs-cls/transactional' from 'app'"), {
    code: 'MODULE_NOT_FOUND',
  });
});

describe('context.transactional without @nestjs-cls/transactional installed', () => {
  it('fails start-up naming the package to install', () => {
    const options = { context: { cls: true, transactional: { connectionName: undefined } } };
    expect(() => new AmbientTransactions(options)).toThrow(InvalidIntegrationOptionsError);
    expect(() => new AmbientTransactions(options)).toThrow(
      /npm install @nestjs-cls\/transactional/,
    );
  });
});
