import { sqlExecutor } from './sql-executor.factory';
import { InvalidIntegrationOptionsError } from '../errors/invalid-options.error';
import { InvalidSchemaNameError } from '../errors/invalid-schema-name.error';
import { resolveOptions, schemaNameProblem } from '../integration.options';
import { IntegrationTables } from './integration-tables';
import { DEFAULT_INTEGRATION_SCHEMA } from './schema-name';
import type { IntegrationDatabaseAdapter } from './sql-executor';

// A stand-in adapter: option resolution never touches the database.
const database: IntegrationDatabaseAdapter = {
  kind: 'fake',
  root: { query: async () => ({ rows: [], rowCount: 0 }) },
  forTransaction: () => undefined,
  transaction: async (fn) =>
    fn(
      undefined,
      sqlExecutor(async () => ({ rows: [], rowCount: 0 })),
    ),
  listenConfig: () => undefined,
};

describe('schema option (issue 12: schema)', () => {
  it('defaults to public and quotes the qualified table names (issue 12: schema)', () => {
    expect(DEFAULT_INTEGRATION_SCHEMA).toBe('public');
    expect(resolveOptions({ database }).schema).toBe('public');
    expect(resolveOptions({ database, schema: 'integration' }).schema).toBe('integration');
    const tables = new IntegrationTables();
    expect(tables).toMatchObject({
      schema: 'public',
      outbox: '"public"."outbox_event"',
      inbox: '"public"."inbox_event"',
      link: '"public"."integration_link"',
      delivery: '"public"."integration_delivery"',
      consumer: '"public"."integration_consumer"',
      consumerHost: '"public"."integration_consumer_host"',
      sequencer: '"public"."integration_sequencer"',
      audit: '"public"."integration_audit"',
      consumerStats: '"public"."integration_consumer_stats"',
    });
    // A keyword stays usable as a schema name because it is quoted.
    expect(new IntegrationTables('user').outbox).toBe('"user"."outbox_event"');
    expect(new IntegrationTables('user').sequencer).toBe('"user"."integration_sequencer"');
  });

  it.each([
    ['Integration'],
    ['1abc'],
    ['a-b'],
    ['my schema'],
    ['x"; drop table outbox_event; --'],
    [''],
    ['a'.repeat(64)],
    ['pg_catalog'],
    ['information_schema'],
    [42],
    [null],
  ])('refuses %p as a schema name, naming the rule (issue 12: schema)', (value) => {
    const problem = schemaNameProblem(value);
    expect(problem).toMatch(/^schema: Invalid schema name .*: (it |PostgreSQL reserves it)/);
    expect(problem).toContain('Use a plain lowercase identifier');
    expect(() => resolveOptions({ database, schema: value as string })).toThrow(
      InvalidIntegrationOptionsError,
    );
    expect(() => new IntegrationTables(value as string)).toThrow(InvalidSchemaNameError);
  });

  it('accepts plain lowercase identifiers up to 63 characters (issue 12: schema)', () => {
    for (const name of ['integration', '_private', 'tenant_1', 'a'.repeat(63)]) {
      expect(schemaNameProblem(name)).toBeUndefined();
      expect(new IntegrationTables(name).inbox).toBe(`"${name}"."inbox_event"`);
    }
  });
});
