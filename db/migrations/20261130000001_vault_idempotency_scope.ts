import type { Knex } from 'knex';

/**
 * Vault hardening: idempotency keys belong to an owner (unique per owner, not across every
 * caller) and carry a fingerprint of the request they were first used for; a vault's balance
 * is bounded (see src/vault/vault.limits.ts) so the ledger's sums cannot overflow a bigint.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE vault_operation
      ADD COLUMN owner_id     text,
      ADD COLUMN request_hash text;
    UPDATE vault_operation o SET owner_id = v.owner_id FROM vault v WHERE v.id = o.vault_id;
    ALTER TABLE vault_operation ALTER COLUMN owner_id SET NOT NULL;
    ALTER TABLE vault_operation DROP CONSTRAINT vault_operation_idempotency_key_key;
    ALTER TABLE vault_operation
      ADD CONSTRAINT vault_operation_owner_idempotency_key_key UNIQUE (owner_id, idempotency_key);

    -- NOT VALID: rows written before the bound are not rechecked; such a vault can only shrink.
    ALTER TABLE vault
      ADD CONSTRAINT vault_balance_max_check CHECK (balance_minor <= 1000000000000000) NOT VALID;
  `);
}

/** Restores the global key uniqueness; fails if two owners have since used the same key. */
export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE vault DROP CONSTRAINT IF EXISTS vault_balance_max_check;
    ALTER TABLE vault_operation DROP CONSTRAINT vault_operation_owner_idempotency_key_key;
    ALTER TABLE vault_operation
      ADD CONSTRAINT vault_operation_idempotency_key_key UNIQUE (idempotency_key);
    ALTER TABLE vault_operation DROP COLUMN request_hash, DROP COLUMN owner_id;
  `);
}
