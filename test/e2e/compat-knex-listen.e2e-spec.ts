import knexFactory, { type Knex } from 'knex';
import { OutboxProcessor, knexAdapter } from '../../src/integration';
import { createIntegrationApp, type IntegrationTestApp } from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { waitFor } from '../support/wait-for';

// Found by `npm run test:compat`: its Knex apps configure Knex as users do, with a URL string.
describe('knexAdapter LISTEN connection (issue 12 compat)', () => {
  let db: TestDatabase;
  let knex: Knex | undefined;
  let t: IntegrationTestApp | undefined;

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => {
    await t?.close();
    await knex?.destroy();
  });
  afterAll(async () => {
    await db.drop();
  });

  it('LISTENs with the password of a Knex connection URL (compat #1)', async () => {
    // Knex keeps the password it parses from a URL as a non-enumerable property. The URL always
    // carries one (a server with trust authentication, as in CI's second run, ignores it; the
    // embedded server checks it, which is where the bug showed).
    const url = new URL(db.url);
    if (!url.password) url.password = 'ignored-by-trust-auth';
    knex = knexFactory({ client: 'pg', connection: url.toString(), pool: { min: 0, max: 2 } });
    expect(Object.keys(knex.client.config.connection)).not.toContain('password');
    t = await createIntegrationApp(db.url, {
      integration: { database: knexAdapter(knex), processor: { enabled: true } },
    });
    const processor = t.app.get(OutboxProcessor);
    await waitFor(() => processor.listening, 10_000, 'LISTEN');
    expect(processor.listening).toBe(true);
  });
});
