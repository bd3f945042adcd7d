-- Undoes 0004 (Knex rollbacks only: the CLI runner is forward-only).
DROP INDEX IF EXISTS ${schema}.outbox_event_correlation_idx;
DROP INDEX IF EXISTS ${schema}.outbox_event_tenant_idx;
DROP INDEX IF EXISTS ${schema}.outbox_event_name_idx;
DROP INDEX IF EXISTS ${schema}.integration_delivery_skipped_consumer_idx;
DROP INDEX IF EXISTS ${schema}.integration_delivery_skipped_recent_idx;
DROP INDEX IF EXISTS ${schema}.integration_delivery_dead_letter_recent_idx;
DROP TABLE IF EXISTS ${schema}.integration_consumer_stats;
DROP TABLE IF EXISTS ${schema}.integration_audit;
