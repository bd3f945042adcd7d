-- Undoes 0003 (Knex rollbacks only: the CLI runner is forward-only): brings back the per-event
-- columns of outbox_event with their defaults and indexes, and derives each event's status from
-- its deliveries, best effort. What is lost: per-consumer detail (an event has one status again),
-- leases (every event comes back unlocked, processing deliveries count as pending), exact
-- attempt counts (the largest of its deliveries'), and updated_at (now). The deliveries
-- themselves stay (0002's tables): only 0002's undo drops them.
DROP INDEX IF EXISTS ${schema}.outbox_event_created_idx;

ALTER TABLE ${schema}.outbox_event
  ADD COLUMN status        text        NOT NULL DEFAULT 'pending'
             CONSTRAINT outbox_event_status_check
             CHECK (status IN ('pending', 'processing', 'processed', 'dead_letter')),
  ADD COLUMN attempt_count integer     NOT NULL DEFAULT 0 CHECK (attempt_count >= 0),
  ADD COLUMN locked_by     text,
  ADD COLUMN locked_until  timestamptz,
  ADD COLUMN last_error    text,
  ADD COLUMN updated_at    timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN processed_at  timestamptz;

-- An event with a dead-lettered delivery is a dead letter; one whose deliveries are all
-- finished (processed, skipped) is processed; one with an unfinished delivery is pending. An
-- event without deliveries is processed when the sequencer is past it (no consumer matched it,
-- or its deliveries were purged), pending otherwise.
UPDATE ${schema}.outbox_event o
   SET status = d.status, attempt_count = d.attempts, last_error = d.last_error,
       processed_at = d.processed_at
  FROM (
    SELECT d.event_id,
           CASE WHEN bool_or(d.status = 'dead_letter') THEN 'dead_letter'
                WHEN bool_and(d.status IN ('processed', 'skipped')) THEN 'processed'
                ELSE 'pending' END AS status,
           max(d.attempt_count) AS attempts,
           (array_agg(d.last_error ORDER BY d.updated_at DESC)
              FILTER (WHERE d.last_error IS NOT NULL))[1] AS last_error,
           CASE WHEN bool_and(d.status IN ('processed', 'skipped')) THEN max(d.processed_at) END
             AS processed_at
      FROM ${schema}.integration_delivery d
     GROUP BY d.event_id
  ) d
 WHERE o.id = d.event_id;
UPDATE ${schema}.outbox_event o SET status = 'processed', processed_at = o.created_at
  FROM ${schema}.integration_sequencer s
 WHERE s.id = 1
   AND NOT EXISTS (SELECT 1 FROM ${schema}.integration_delivery d WHERE d.event_id = o.id)
   AND pg_visible_in_snapshot(o.tx_id, s.horizon);

-- The per-event dispatcher skips a consumer with a finished inbox row: what a consumer finished
-- per delivery is written there, so a pending event does not run it again.
INSERT INTO ${schema}.inbox_event (event_id, consumer_name, status, processed_at)
SELECT d.event_id::text, d.consumer_name, d.status, d.processed_at
  FROM ${schema}.integration_delivery d
 WHERE d.status IN ('processed', 'skipped')
ON CONFLICT (event_id, consumer_name) DO NOTHING;

CREATE INDEX outbox_event_claim_idx ON ${schema}.outbox_event (seq) WHERE status = 'pending';
CREATE INDEX outbox_event_lease_idx ON ${schema}.outbox_event (locked_until) WHERE status = 'processing';
CREATE INDEX outbox_event_ordering_idx ON ${schema}.outbox_event (ordering_key, seq)
  WHERE status IN ('pending', 'processing');
CREATE INDEX outbox_event_dead_letter_idx ON ${schema}.outbox_event (updated_at) WHERE status = 'dead_letter';
CREATE INDEX outbox_event_processed_idx ON ${schema}.outbox_event (processed_at) WHERE status = 'processed';

-- Consumers known only from the upgrade get the regex that matches nothing (as for no patterns).
UPDATE ${schema}.integration_consumer SET pattern_regex = '^$' WHERE pattern_regex IS NULL;
ALTER TABLE ${schema}.integration_consumer ALTER COLUMN pattern_regex SET NOT NULL;
