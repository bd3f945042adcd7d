import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { withDatabase } from '../../src/database/database-url';
import { TEST_ENV, testDatabasePrefix } from './test-env';

/** A database of its own for one test file, cloned from the run's migrated template. */
export interface TestDatabase {
  readonly name: string;
  readonly url: string;
  /** Drops the database (terminating any connection left open). */
  drop(): Promise<void>;
}

function required(name: string): string {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run the tests through Jest (test/support/global-setup.ts)`,
    );
  return value;
}

/** The server-level URL the run uses (for tests that create databases themselves). */
export function testAdminUrl(): string {
  return required(TEST_ENV.adminUrl);
}

/** Clones the migrated template into a fresh database. */
export async function createTestDatabase(
  options: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  const adminUrl = required(TEST_ENV.adminUrl);
  const template = required(TEST_ENV.templateDb);
  const name = `${testDatabasePrefix(required(TEST_ENV.runId))}${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    const source = options.migrated === false ? 'template0' : template;
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(
          `CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(source)}`,
        );
        break;
      } catch (error) {
        // 55006: the template is briefly in use by a concurrent CREATE DATABASE.
        if ((error as { code?: string }).code !== '55006' || attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 50 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: async () => {
      const client = new Client({ connectionString: adminUrl });
      await client.connect();
      try {
        // `pool.end()` resolves before its connections have closed: give them a moment, since a
        // connection that FORCE terminates mid-close makes its pool emit an 'error' nobody
        // listens to any more, which ends the test file.
        const deadline = Date.now() + 2_000;
        while (Date.now() < deadline) {
          const { rows } = await client.query<{ n: number }>(
            'select count(*)::int as n from pg_stat_activity where datname = $1',
            [name],
          );
          if (rows[0]!.n === 0) break;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
