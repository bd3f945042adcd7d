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
