-- nestjs-integration 0002: per-consumer delivery (issue 13).
-- The outbox row stays the log of what happened; what each consumer did with it lives in
-- integration_delivery, one row per (event, consumer). Consumers are known cluster-wide
-- (integration_consumer, with the instances hosting them in integration_consumer_host), and a
-- sequencer fans committed events out to them in commit order (integration_sequencer).

-- The publishing transaction's id: the sequencer finds events committed since its last run
-- from it (xid8 and pg_snapshot). Rows stored before this migration get '1', which every
-- snapshot sees as committed long ago; migration 0003 decides which of them still need
-- delivering. A constant default first, so adding the column does not rewrite the table.
ALTER TABLE ${schema}.outbox_event ADD COLUMN tx_id xid8 NOT NULL DEFAULT '1';
ALTER TABLE ${schema}.outbox_event ALTER COLUMN tx_id SET DEFAULT pg_current_xact_id();
-- The sequencer's scan: events of transactions that were running or not yet started at its
-- previous snapshot, in (transaction, publish) order.
CREATE INDEX outbox_event_tx_idx ON ${schema}.outbox_event (tx_id, seq);

-- Consumers known to the cluster. `pattern_regex` is the consumer's event patterns as one
-- PostgreSQL regular expression over '.' || event_name, so any instance can fan out events to
-- consumers it does not host. Retiring is explicit; a retired consumer gets no new deliveries.
CREATE TABLE ${schema}.integration_consumer (
  name          text        PRIMARY KEY,
  patterns      text[]      NOT NULL,
  pattern_regex text        NOT NULL,
  status        text        NOT NULL DEFAULT 'active'
                CONSTRAINT integration_consumer_status_check CHECK (status IN ('active', 'retired')),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  retired_at    timestamptz
);

-- Which instances host which consumers, with heartbeats (observability: a consumer with
-- deliveries waiting and no live host is visible).
CREATE TABLE ${schema}.integration_consumer_host (
  consumer_name text        NOT NULL,
  worker_id     text        NOT NULL,
  started_at    timestamptz NOT NULL DEFAULT now(),
  heartbeat_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_name, worker_id)
);

-- One row per (event, consumer): the consumer's own status, attempts, lease, next attempt and
-- last error. `position` is the event's place in commit order (from the sequencer), the same
-- for every consumer of the event; `ordering_key` is copied from the event so the claim needs
-- no join to find a key's earlier deliveries.
CREATE TABLE ${schema}.integration_delivery (
  event_id      uuid        NOT NULL,
  consumer_name text        NOT NULL,
  position      bigint      NOT NULL,
  ordering_key  text        NOT NULL,
  status        text        NOT NULL DEFAULT 'pending'
                CONSTRAINT integration_delivery_status_check
                CHECK (status IN ('pending', 'processing', 'processed', 'dead_letter', 'skipped')),
  attempt_count integer     NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  -- Every claim counts here, released or not: claims per delivery measure churn.
  claim_count   integer     NOT NULL DEFAULT 0 CHECK (claim_count >= 0),
  available_at  timestamptz NOT NULL DEFAULT now(),
  locked_by     text,
  locked_until  timestamptz,
  last_error    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  processed_at  timestamptz,
  -- Event first: it also serves "every consumer's delivery of one event" (finders, purge),
  -- and a lookup by (event, consumer) can only use this index, whatever the statistics say.
  PRIMARY KEY (event_id, consumer_name)
);
-- Claim: pending deliveries of the hosted consumers in commit order.
CREATE INDEX integration_delivery_claim_idx ON ${schema}.integration_delivery (consumer_name, position)
  WHERE status = 'pending';
-- Lease recovery.
CREATE INDEX integration_delivery_lease_idx ON ${schema}.integration_delivery (locked_until)
  WHERE status = 'processing';
-- Per (consumer, key) order: a key's earlier unfinished deliveries. The key leads so that a
-- lookup by consumer alone can never use this index (a planner without statistics, in a fresh
-- deployment's first minutes, would otherwise scan a consumer's whole backlog per delivery).
CREATE INDEX integration_delivery_key_idx
  ON ${schema}.integration_delivery (ordering_key, consumer_name, position)
  WHERE status IN ('pending', 'processing');
CREATE INDEX integration_delivery_dead_letter_idx
  ON ${schema}.integration_delivery (consumer_name, updated_at) WHERE status = 'dead_letter';

-- The sequencer's progress, one row. `horizon`: every event whose transaction is visible in
-- this snapshot has been fanned out. A run that cannot take all new events at once fixes its
-- `window_snapshot` and continues after (after_tx, after_seq) until the window is done.
-- `next_position` numbers events in the order they are fanned out.
CREATE TABLE ${schema}.integration_sequencer (
  id              smallint    PRIMARY KEY CHECK (id = 1),
  horizon         pg_snapshot NOT NULL,
  window_snapshot pg_snapshot,
  after_tx        xid8,
  after_seq       bigint,
  next_position   bigint      NOT NULL DEFAULT 1,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ${schema}.integration_sequencer (id, horizon) VALUES (1, pg_current_snapshot());
