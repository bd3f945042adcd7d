import type { Knex } from 'knex';

/**
 * Sample domain tables: vaults and their operations (vault module), notifications and the
 * ledger projection (their own modules, tied to vaults by integration links, not foreign keys).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE vault (
      id            uuid        PRIMARY KEY,
      owner_id      text        NOT NULL,
      name          text        NOT NULL,
      currency      char(3)     NOT NULL,
      balance_minor bigint      NOT NULL DEFAULT 0 CHECK (balance_minor >= 0),
      status        text        NOT NULL DEFAULT 'open'
                    CONSTRAINT vault_status_check CHECK (status IN ('open', 'locked', 'closed')),
      version       integer     NOT NULL DEFAULT 0,
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now(),
      closed_at     timestamptz
    );
    CREATE INDEX vault_owner_idx ON vault (owner_id);

    CREATE TABLE vault_operation (
      id              uuid        PRIMARY KEY,
      vault_id        uuid        NOT NULL REFERENCES vault (id),
      kind            text        NOT NULL,
      amount_minor    bigint,
      idempotency_key text        UNIQUE,
      result          jsonb       NOT NULL,
      created_at      timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX vault_operation_vault_idx ON vault_operation (vault_id, created_at);

    CREATE TABLE vault_notification (
      id         uuid        PRIMARY KEY,
      owner_id   text        NOT NULL,
      vault_id   uuid        NOT NULL,
      event_id   uuid        NOT NULL,
      event_name text        NOT NULL,
      message    text        NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX vault_notification_vault_idx ON vault_notification (vault_id, created_at);

    CREATE TABLE vault_ledger (
      owner_id      text        NOT NULL,
      currency      char(3)     NOT NULL,
      balance_minor bigint      NOT NULL DEFAULT 0,
      updated_at    timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (owner_id, currency)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE IF EXISTS vault_ledger;
    DROP TABLE IF EXISTS vault_notification;
    DROP TABLE IF EXISTS vault_operation;
    DROP TABLE IF EXISTS vault;
  `);
}
