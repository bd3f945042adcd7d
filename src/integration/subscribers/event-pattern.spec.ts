import { compileEventPattern, isValidEventPattern, isWildcardPattern } from './event-pattern';

describe('event patterns', () => {
  it.each([
    ['vault.locked', 'vault.locked', true],
    ['vault.locked', 'vault.unlocked', false],
    ['vault.*', 'vault.locked', true],
    ['vault.*', 'vault.audit.logged', false],
    ['*.closed', 'vault.closed', true],
    ['*.closed', 'vault.opened', false],
    ['vault.**', 'vault.locked', true],
    ['vault.**', 'vault.audit.logged', true],
    ['vault.**', 'billing.paid', false],
    ['**', 'anything.at.all', true],
    ['**.paid', 'billing.invoice.paid', true],
    ['billing.**.paid', 'billing.paid', true],
    ['billing.**.paid', 'billing.invoice.late.paid', true],
    ['billing.**.paid', 'billing.invoice.late', false],
    ['*.*', 'a.b', true],
    ['*.*', 'a.b.c', false],
  ])('%s matches %s: %s', (pattern, name, expected) => {
    expect(isValidEventPattern(pattern)).toBe(true);
    expect(compileEventPattern(pattern)(name)).toBe(expected);
  });

  it.each([
    '',
    'Vault.*',
    'vault.lo*',
    'vault..x',
    '.vault',
    'vault.',
    'vault.***',
    'x'.repeat(201),
    42,
    null,
  ])('rejects %j', (pattern) => {
    expect(isValidEventPattern(pattern)).toBe(false);
  });

  it('tells wildcards from literals', () => {
    expect(isWildcardPattern('vault.*')).toBe(true);
    expect(isWildcardPattern('vault.locked')).toBe(false);
  });
});
