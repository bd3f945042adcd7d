-- Undoes 0004 (Knex rollbacks only: the CLI runner is forward-only).
DROP TABLE IF EXISTS ${schema}.integration_consumer_stats;
DROP TABLE IF EXISTS ${schema}.integration_audit;
