DROP INDEX IF EXISTS ${schema}.integration_delivery_tenant_claim_idx;
ALTER TABLE ${schema}.integration_audit DROP COLUMN IF EXISTS tenant_id;
ALTER TABLE ${schema}.inbox_event DROP COLUMN IF EXISTS tenant_id;
ALTER TABLE ${schema}.integration_delivery DROP COLUMN IF EXISTS tenant_id;
