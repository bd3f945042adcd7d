-- nestjs-integration 0001: outbox, inbox and cross-module links.
-- Table names are qualified by a placeholder for the quoted schema ("public" unless configured);
-- `nestjs-integration sql [--schema <name>]` prints this file with it substituted.
-- No foreign keys between these tables: the inbox also guards events that never came from this outbox.

CREATE TABLE ${schema}.outbox_event (
  id              uuid        PRIMARY KEY,
  seq             bigint      GENERATED ALWAYS AS IDENTITY,
  event_name      text        NOT NULL,
  event_version   integer     NOT NULL DEFAULT 1,
  source_module   text,
  aggregate_type  text        NOT NULL,
  aggregate_id    text        NOT NULL,
  ordering_key    text        NOT NULL,
  payload         jsonb       NOT NULL,
  headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
  tenant_id       text,
  correlation_id  text,
  causation_id    text,
  idempotency_key text,
  status          text        NOT NULL DEFAULT 'pending'
                  CONSTRAINT outbox_event_status_check
                  CHECK (status IN ('pending', 'processing', 'processed', 'dead_letter')),
  attempt_count   integer     NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  available_at    timestamptz NOT NULL DEFAULT now(),
  locked_by       text,
  locked_until    timestamptz,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  processed_at    timestamptz
);

-- Claim: due pending rows in publish order.
CREATE INDEX outbox_event_claim_idx ON ${schema}.outbox_event (seq) WHERE status = 'pending';
-- Lease recovery: processing rows by lease expiry.
CREATE INDEX outbox_event_lease_idx ON ${schema}.outbox_event (locked_until) WHERE status = 'processing';
-- Per-key ordering: the earlier unfinished events of a key.
CREATE INDEX outbox_event_ordering_idx ON ${schema}.outbox_event (ordering_key, seq)
  WHERE status IN ('pending', 'processing');
-- Idempotent publish: one event per (tenant, idempotency key); no tenant counts as ''.
CREATE UNIQUE INDEX outbox_event_idempotency_uq
  ON ${schema}.outbox_event ((coalesce(tenant_id, '')), idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX outbox_event_aggregate_idx ON ${schema}.outbox_event (aggregate_type, aggregate_id, seq);
CREATE INDEX outbox_event_dead_letter_idx ON ${schema}.outbox_event (updated_at) WHERE status = 'dead_letter';
CREATE INDEX outbox_event_processed_idx ON ${schema}.outbox_event (processed_at) WHERE status = 'processed';

-- event_id is text: the inbox also guards events from outside (broker message ids).
CREATE TABLE ${schema}.inbox_event (
  event_id      text        NOT NULL,
  consumer_name text        NOT NULL,
  status        text        NOT NULL
                CONSTRAINT inbox_event_status_check
                CHECK (status IN ('processed', 'failed', 'skipped')),
  attempt_count integer     NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  last_error    text,
  payload_hash  text,
  processed_at  timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id, consumer_name)
);
CREATE INDEX inbox_event_consumer_idx ON ${schema}.inbox_event (consumer_name, status);

CREATE TABLE ${schema}.integration_link (
  id                 uuid        PRIMARY KEY,
  source_module      text        NOT NULL,
  source_entity_type text        NOT NULL,
  source_entity_id   text        NOT NULL,
  target_module      text        NOT NULL,
  target_entity_type text        NOT NULL,
  target_entity_id   text        NOT NULL,
  link_type          text        NOT NULL
                     CONSTRAINT integration_link_type_check
                     CHECK (link_type IN ('reference', 'cascade', 'aggregate_root')),
  metadata           jsonb       NOT NULL DEFAULT '{}'::jsonb,
  tenant_id          text,
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX integration_link_mapping_uq ON ${schema}.integration_link (
  (coalesce(tenant_id, '')),
  source_module, source_entity_type, source_entity_id,
  target_module, target_entity_type, target_entity_id,
  link_type
);
CREATE INDEX integration_link_target_idx
  ON ${schema}.integration_link (target_module, target_entity_type, target_entity_id);
CREATE INDEX integration_link_type_idx ON ${schema}.integration_link (link_type);
