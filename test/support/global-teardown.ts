import { rm } from 'node:fs/promises';
import { Client } from 'pg';
import { testDatabasePrefix } from './test-env';

/** Drops what the run created and stops the embedded server. */
export default async function globalTeardown(): Promise<void> {
  const state = globalThis.__NI_TEST_STATE__;
  if (!state) return;
  globalThis.__NI_TEST_STATE__ = undefined;
  try {
    const admin = new Client({ connectionString: state.adminUrl });
    await admin.connect();
    try {
      const { rows } = await admin.query<{ datname: string }>(
        `select datname from pg_database where datname = $1 or starts_with(datname, $2)`,
        [state.templateDb, testDatabasePrefix(state.runId)],
      );
      for (const { datname } of rows) {
        await admin.query(
          `DROP DATABASE IF EXISTS ${admin.escapeIdentifier(datname)} WITH (FORCE)`,
        );
      }
    } finally {
      await admin.end();
    }
  } finally {
    await state.server?.stop();
    if (state.tmpDir) await rm(state.tmpDir, { recursive: true, force: true });
  }
}
