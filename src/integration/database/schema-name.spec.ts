import { InvalidSchemaNameError } from '../errors/invalid-schema-name.error';
import { IntegrationError } from '../errors/integration.error';
import { DEFAULT_INTEGRATION_SCHEMA, quoteSchemaName, validateSchemaName } from './schema-name';

describe('validateSchemaName (issue 12 schema)', () => {
  it('accepts plain lowercase identifiers and defaults to public', () => {
    expect(validateSchemaName()).toBe(DEFAULT_INTEGRATION_SCHEMA);
    expect(validateSchemaName(undefined)).toBe('public');
    for (const name of ['integration', '_x', 'a1_b2', 'a'.repeat(63)]) {
      expect(validateSchemaName(name)).toBe(name);
    }
    expect(quoteSchemaName('integration')).toBe('"integration"');
    expect(quoteSchemaName()).toBe('"public"');
  });

  it.each([
    ['', 'not a plain lowercase identifier'],
    ['Integration', 'not a plain lowercase identifier'],
    ['1abc', 'not a plain lowercase identifier'],
    ['my-schema', 'not a plain lowercase identifier'],
    ['x"; DROP TABLE outbox_event; --', 'not a plain lowercase identifier'],
    ['schéma', 'not a plain lowercase identifier'],
    ['a'.repeat(64), 'longer than 63 characters'],
    ['pg_catalog', 'reserves it'],
    ['pg_temp', 'reserves it'],
    ['information_schema', 'reserves it'],
  ])('refuses %j with a typed error that says how to fix it', (name, reason) => {
    let thrown: unknown;
    try {
      quoteSchemaName(name);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(InvalidSchemaNameError);
    expect(thrown).toBeInstanceOf(IntegrationError);
    const error = thrown as InvalidSchemaNameError;
    expect(error.name).toBe('InvalidSchemaNameError');
    expect(error.schema).toBe(name);
    expect(error.message).toContain(reason);
    expect(error.message).toContain('Use a plain lowercase identifier');
  });

  it.each([[null], [42], [{}]])('refuses the non-string %p', (value) => {
    expect(() => validateSchemaName(value)).toThrow(/it is not a string/);
  });

  it('shortens a very long name in the message', () => {
    expect(() => validateSchemaName('A'.repeat(500))).toThrow(/"A{80}…"/);
  });
});
