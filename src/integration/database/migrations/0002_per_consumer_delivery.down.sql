-- Undoes 0002 (Knex rollbacks only: the CLI runner is forward-only). Drops per-consumer delivery state.
DROP TABLE IF EXISTS ${schema}.integration_sequencer;
DROP TABLE IF EXISTS ${schema}.integration_delivery;
DROP TABLE IF EXISTS ${schema}.integration_consumer_host;
DROP TABLE IF EXISTS ${schema}.integration_consumer;
DROP INDEX IF EXISTS ${schema}.outbox_event_tx_idx;
ALTER TABLE ${schema}.outbox_event DROP COLUMN IF EXISTS tx_id;
