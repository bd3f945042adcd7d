-- nestjs-integration 0006: the sequencer's tenant lane (issue 16). While the sequencer is behind
-- (a flood of one tenant's events), each run also fans out, ahead of the backlog, every waiting
-- event of the light tenants among the newest events: it reads them from this index, one range
-- per tenant. Partial: events without a tenant never take the lane, and publishing them costs
-- nothing more.
CREATE INDEX outbox_event_tenant_tx_idx
  ON ${schema}.outbox_event (tenant_id, tx_id, seq)
  WHERE tenant_id IS NOT NULL;
