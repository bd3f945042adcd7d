import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';
import { AmbientTransactions } from './ambient-transactions';

const host = { tx: 'the-tx', isTransactionActive: () => true };

// A stand-in for a @nestjs-cls/transactional whose TransactionHost cannot bind a transaction.
jest.mock('@nestjs-cls/transactional', () => ({
  TransactionHost: { getInstance: () => host },
}));

const options = { context: { cls: true, transactional: { connectionName: undefined } } };

describe('context.transactional on a TransactionHost without setTxInstance', () => {
  it("joins the host's transaction, and refuses to bind, naming the tested version", () => {
    const ambient = new AmbientTransactions(options);
    expect(ambient.current('DomainEventPublisher.publish')).toBe('the-tx');
    // Refused at bootstrap already, with the typed options error naming the fix.
    expect(() => ambient.onApplicationBootstrap()).toThrow(InvalidIntegrationOptionsError);
    expect(() => ambient.bind('ctx-tx', () => 1)).toThrow(
      /TransactionHost has no setTxInstance, so handlers cannot run in its transaction: install @nestjs-cls\/transactional 3\.x/,
    );
  });
});
