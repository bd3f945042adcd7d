import { migrateIntegrationTables } from 'nestjs-integration';
import { Pool } from 'pg';

/**
 * The projection's own tables: one row per vault (its owner, currency, balance and status, as
 * the vault's events tell them) and one per owner (vaults opened so far, counted by the
 * `vault.opened` handler: a second application of one event would show as a wrong count).
 */
export const PROJECTION_TABLES_SQL = `
create table if not exists projection_vault (
  vault_id text primary key,
  owner_id text not null,
  name text not null,
  currency char(3) not null,
  balance_minor numeric(20, 0) not null default 0,
  status text not null default 'open',
  version int not null,
  updated_at timestamptz not null default now()
);
create index if not exists projection_vault_owner on projection_vault (owner_id);
create table if not exists projection_owner (
  owner_id text primary key,
  vaults_opened int not null,
  updated_at timestamptz not null default now()
);
`;

/**
 * Creates what the projection app needs in its database: the integration module's tables (its
 * inbox) through the package's migrations, then the projection's tables. Idempotent.
 */
export async function migrateProjectionDatabase(url: string): Promise<void> {
  const pool = new Pool({ connectionString: url, max: 1 });
  try {
    const client = await pool.connect();
    try {
      await migrateIntegrationTables(client);
      await client.query(PROJECTION_TABLES_SQL);
    } finally {
      client.release();
    }
  } finally {
    await pool.end();
  }
}
