import { chmod, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { migrateLatest } from '../../db/migrator';
import { withDatabase } from '../../src/database/database-url';
import { EmbeddedPostgresServer } from '../../src/database/embedded-postgres';
import { TEST_ENV } from './test-env';

/** State shared with the global teardown (same process). */
export interface GlobalTestState {
  server?: EmbeddedPostgresServer;
  tmpDir?: string;
  adminUrl: string;
  templateDb: string;
  runId: string;
}

declare global {
  var __NI_TEST_STATE__: GlobalTestState | undefined;
}

/**
 * Starts PostgreSQL once for the whole run (embedded unless DATABASE_URL is set) and migrates
 * a template database that each test file clones (test/support/test-database.ts).
 */
export default async function globalSetup(): Promise<void> {
  const runId = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  let adminUrl = process.env.DATABASE_URL;
  let server: EmbeddedPostgresServer | undefined;
  let tmpDir: string | undefined;
  if (!adminUrl) {
    tmpDir = await mkdtemp(path.join(tmpdir(), 'ni-test-pg-'));
    await chmod(tmpDir, 0o755); // the server may run as the postgres user
    server = new EmbeddedPostgresServer({
      dataDir: path.join(tmpDir, 'data'),
      port: 0,
      // A throwaway cluster: durability buys nothing here and costs minutes. Benchmarks keep it.
      settings: {
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        max_connections: 300,
      },
    });
    await server.start();
    adminUrl = server.url('postgres');
  }
  const templateDb = `ni_tpl_${runId}`;
  const admin = new Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(templateDb)}`);
  } finally {
    await admin.end();
  }
  await migrateLatest(withDatabase(adminUrl, templateDb));

  process.env[TEST_ENV.adminUrl] = adminUrl;
  process.env[TEST_ENV.templateDb] = templateDb;
  process.env[TEST_ENV.runId] = runId;
  globalThis.__NI_TEST_STATE__ = { server, tmpDir, adminUrl, templateDb, runId };
}
