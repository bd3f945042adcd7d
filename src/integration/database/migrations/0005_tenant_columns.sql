-- nestjs-integration 0005: tenants (issue 16). Every table that holds a tenant's data says which
-- tenant, so queries, fair claiming and row-level security can key on it without a join to the
-- outbox. Nullable (no tenant) and without a default, so adding the columns rewrites nothing.

-- Copied from the event at fan-out, like ordering_key.
ALTER TABLE ${schema}.integration_delivery ADD COLUMN tenant_id text;
-- Written with the inbox mark: the handled event's tenant (or the broker message's).
ALTER TABLE ${schema}.inbox_event ADD COLUMN tenant_id text;
-- The tenant an admin action was limited to (NULL: every tenant).
ALTER TABLE ${schema}.integration_audit ADD COLUMN tenant_id text;

-- Rows stored before this migration take their event's tenant, where the event names one (only
-- those rows are rewritten). Inbox marks of events from outside the outbox keep NULL.
UPDATE ${schema}.integration_delivery d SET tenant_id = o.tenant_id
  FROM ${schema}.outbox_event o WHERE o.id = d.event_id AND o.tenant_id IS NOT NULL;
UPDATE ${schema}.inbox_event i SET tenant_id = o.tenant_id
  FROM ${schema}.outbox_event o WHERE o.id::text = i.event_id AND o.tenant_id IS NOT NULL;

-- Fair claiming: per consumer, its tenants with pending deliveries (a loose index scan) and
-- each tenant's pending deliveries in position order. "No tenant" is keyed '' (one tenant).
CREATE INDEX integration_delivery_tenant_claim_idx
  ON ${schema}.integration_delivery (consumer_name, (coalesce(tenant_id, '')), position)
  WHERE status = 'pending';
