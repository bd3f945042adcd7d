import { AmbientTransactionRequiredError } from '../errors/ambient-transaction-required.error';
import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';
import { AmbientTransactions } from './ambient-transactions';

const options = (transactional?: { connectionName: string | undefined }) => ({
  context: { cls: transactional !== undefined, transactional },
});

describe('AmbientTransactions', () => {
  it('without context.transactional: refuses current(), bind() just runs', () => {
    const ambient = new AmbientTransactions(options());
    expect(ambient.enabled).toBe(false);
    expect(() => ambient.current('DomainEventPublisher.publish')).toThrow(
      AmbientTransactionRequiredError,
    );
    expect(ambient.bind({}, () => 42)).toBe(42);
  });

  it('names the connection when no ClsPluginTransactional registered it', () => {
    const ambient = new AmbientTransactions(options({ connectionName: 'reports' }));
    expect(ambient.enabled).toBe(true);
    expect(() => ambient.current('DomainEventPublisher.publish')).toThrow(
      InvalidIntegrationOptionsError,
    );
    expect(() => ambient.bind({}, () => 1)).toThrow(/connectionName: 'reports'/);
    // Nothing to bind for consumers without a transaction.
    expect(ambient.bind(undefined, () => 2)).toBe(2);
  });
});
