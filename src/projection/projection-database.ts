import path from 'node:path';
import {
  bootstrapDatabase,
  ensureDatabase,
  type DatabaseHandle,
} from '../database/database-bootstrap';
import { migrateProjectionDatabase } from './projection-schema';

/** Where the projection app's database comes from. */
export interface ProjectionDatabaseOptions {
  /** Use this database (created on its server when missing). */
  readonly databaseUrl?: string;
  /** Embedded cluster directory when no URL is given. @default '.data/projection-postgres' */
  readonly dataDir?: string;
  /** Embedded server port. @default 54339 */
  readonly port?: number;
}

/** Name of the projection's database next to the vault's, and on its embedded server. */
export const PROJECTION_DATABASE_NAME = 'vault_projection';

/**
 * The projection's database from the environment: `PROJECTION_DATABASE_URL`; else a second
 * database (`vault_projection`) on the server of `DATABASE_URL`; else its own embedded
 * PostgreSQL (`PROJECTION_PG_DATA_DIR`, `PROJECTION_PG_PORT`).
 */
export function projectionDatabaseOptionsFromEnv(
  env: NodeJS.ProcessEnv = process.env,
): ProjectionDatabaseOptions {
  let databaseUrl = env.PROJECTION_DATABASE_URL || undefined;
  if (!databaseUrl && env.DATABASE_URL) {
    const sibling = new URL(env.DATABASE_URL);
    sibling.pathname = `/${PROJECTION_DATABASE_NAME}`;
    databaseUrl = sibling.toString();
  }
  return {
    databaseUrl,
    dataDir: env.PROJECTION_PG_DATA_DIR || path.resolve('.data', 'projection-postgres'),
    port: env.PROJECTION_PG_PORT ? Number(env.PROJECTION_PG_PORT) : 54339,
  };
}

/**
 * A reachable projection database with the module's tables and the projection's: the one at
 * `databaseUrl` (created on its server when missing), or one on an embedded server.
 */
export async function bootstrapProjectionDatabase(
  options: ProjectionDatabaseOptions,
): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const url = new URL(options.databaseUrl);
    const name = decodeURIComponent(url.pathname.slice(1));
    url.pathname = '/postgres';
    await ensureDatabase(url.toString(), name);
  }
  const db = await bootstrapDatabase({
    databaseUrl: options.databaseUrl,
    dataDir: options.dataDir ?? path.resolve('.data', 'projection-postgres'),
    port: options.port ?? 54339,
    databaseName: PROJECTION_DATABASE_NAME,
    // The vault's Knex migrations are not this app's: it has its own tables.
    migrate: false,
  });
  try {
    await migrateProjectionDatabase(db.url);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}
