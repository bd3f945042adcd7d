DROP INDEX IF EXISTS ${schema}.outbox_event_tenant_tx_idx;
