-- nestjs-integration 0004: operating it (issue 15). What operators did, and per-minute delivery
-- counts per consumer for the dashboard's charts.

-- One row per admin action (replay, discard, purge of dead letters), dry runs included: who,
-- when, on what (the (event, consumer) or the filter, as JSON), how many rows, and why.
CREATE TABLE ${schema}.integration_audit (
  id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  action     text        NOT NULL,
  actor      text        NOT NULL,
  reason     text,
  target     jsonb       NOT NULL DEFAULT '{}'::jsonb,
  affected   integer     NOT NULL DEFAULT 0 CHECK (affected >= 0),
  dry_run    boolean     NOT NULL DEFAULT false,
  complete   boolean     NOT NULL DEFAULT true,
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Retention deletes by age.
CREATE INDEX integration_audit_created_idx ON ${schema}.integration_audit (created_at);

-- Deliveries settled per consumer, per minute, per instance: each instance adds what it
-- settled (a few rows every few seconds, never a write per delivery); readers sum the instances.
-- Latency is from the event's publish to the handler's commit.
CREATE TABLE ${schema}.integration_consumer_stats (
  bucket         timestamptz      NOT NULL,
  consumer_name  text             NOT NULL,
  worker_id      text             NOT NULL,
  processed      integer          NOT NULL DEFAULT 0,
  retried        integer          NOT NULL DEFAULT 0,
  dead_lettered  integer          NOT NULL DEFAULT 0,
  latency_ms_sum double precision NOT NULL DEFAULT 0,
  latency_ms_max double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (bucket, consumer_name, worker_id)
);

-- The admin listings (newest first) and their filters. Deliveries are listed by status from
-- partial indexes of the rare statuses only: a delivery enters them when it is dead-lettered
-- or skipped, never on the claim/settle path of a delivery that succeeds. Pending and
-- processed deliveries are not listed (an index over them would cost a write per delivery);
-- leased ones are few and read from the lease index. `integration_delivery_dead_letter_idx`
-- (0002) serves the consumer filter of dead letters.
CREATE INDEX integration_delivery_dead_letter_recent_idx
  ON ${schema}.integration_delivery (updated_at, event_id, consumer_name) WHERE status = 'dead_letter';
CREATE INDEX integration_delivery_skipped_recent_idx
  ON ${schema}.integration_delivery (updated_at, event_id, consumer_name) WHERE status = 'skipped';
CREATE INDEX integration_delivery_skipped_consumer_idx
  ON ${schema}.integration_delivery (consumer_name, updated_at) WHERE status = 'skipped';
-- Event filters (events listed by created_at, deliveries joined from their events). The outbox
-- is written once per event and never updated: each index costs one entry per publish.
-- aggregate_type + aggregate_id use outbox_event_aggregate_idx (0001).
CREATE INDEX outbox_event_name_idx ON ${schema}.outbox_event (event_name, created_at);
CREATE INDEX outbox_event_tenant_idx ON ${schema}.outbox_event (tenant_id, created_at);
-- Correlation queries: an event's correlated events, and the correlation filter.
CREATE INDEX outbox_event_correlation_idx ON ${schema}.outbox_event (correlation_id, created_at)
  WHERE correlation_id IS NOT NULL;
