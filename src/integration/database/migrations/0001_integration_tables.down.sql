-- Undoes 0001 (Knex rollbacks only: the CLI runner is forward-only). Drops the module's data.
DROP TABLE IF EXISTS ${schema}.integration_link;
DROP TABLE IF EXISTS ${schema}.inbox_event;
DROP TABLE IF EXISTS ${schema}.outbox_event;
