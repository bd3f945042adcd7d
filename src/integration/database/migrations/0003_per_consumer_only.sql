-- nestjs-integration 0003: the per-consumer model becomes the only one.
-- Moves the per-event delivery state (status columns on outbox_event, inbox_event rows of outbox
-- events) into integration_delivery, then drops those columns. Must run in one transaction (the
-- runner and Knex do so; wrap the printed SQL in BEGIN/COMMIT): step 4 relies on this
-- transaction's id.
--
-- "Legacy" below means an event the sequencer has not fanned out yet: stored before 0002
-- (tx_id '1'), or published after 0002 by the per-event model, whose sequencer never ran (its
-- transaction is new to the sequencer's horizon and not taken by an unfinished window). Events
-- the sequencer did fan out (per-consumer model used before this upgrade) already have their
-- deliveries and are left alone.

-- No publisher may hold uncommitted events while their fate is decided: a publishing
-- transaction that started earlier commits first (and is seen below), later ones wait.
LOCK TABLE ${schema}.outbox_event IN ACCESS EXCLUSIVE MODE;

-- 1. NULL: known from this upgrade, patterns not announced yet. The sequencer's regex join never
-- matches NULL, so such a consumer only has the deliveries this migration gives it, until its
-- first announce (which prunes those it does not handle, see ConsumerDirectoryRepository.announce).
ALTER TABLE ${schema}.integration_consumer ALTER COLUMN pattern_regex DROP NOT NULL;

-- 2 and 3, one statement: pre-register every consumer named by an inbox row of an outbox event,
-- and give the unfinished legacy events (pending, processing, dead_letter) their deliveries:
-- - a consumer with an inbox row for the event: processed → processed, skipped → skipped,
--   failed → pending with its attempts and error (dead_letter on a dead-lettered event);
-- - a pre-registered consumer without one: pending, attempt 0 (pruned at its first announce if
--   it does not handle the event); none on a dead-lettered event, which never failed for it.
-- Consumers registered before this upgrade without an inbox row get theirs from the sequencer
-- (step 4) if their patterns match. Positions follow seq, from the sequencer's next_position.
WITH st AS (
  SELECT s.horizon AS h, ARRAY(SELECT pg_snapshot_xip(s.horizon)) AS xip, s.window_snapshot AS w,
         s.after_tx, s.after_seq, s.next_position
    FROM ${schema}.integration_sequencer s WHERE s.id = 1
), legacy AS (
  SELECT o.id, o.seq, o.status, o.ordering_key, o.available_at
    FROM ${schema}.outbox_event o, st
   WHERE o.status IN ('pending', 'processing', 'dead_letter')
     AND (o.tx_id = '1' OR o.tx_id >= pg_snapshot_xmax(st.h) OR o.tx_id = ANY (st.xip))
     AND NOT (st.w IS NOT NULL AND pg_visible_in_snapshot(o.tx_id, st.w)
              AND (o.tx_id, o.seq) <= (st.after_tx, st.after_seq))
), registered AS (
  INSERT INTO ${schema}.integration_consumer (name, patterns, pattern_regex)
  SELECT DISTINCT i.consumer_name, '{}'::text[], NULL::text
    FROM ${schema}.inbox_event i
   WHERE EXISTS (SELECT 1 FROM ${schema}.outbox_event o WHERE o.id::text = i.event_id)
   ORDER BY i.consumer_name
  ON CONFLICT (name) DO NOTHING
  RETURNING name
), pairs AS (
  SELECT l.id, l.seq, l.status AS event_status, l.ordering_key, l.available_at,
         i.consumer_name, i.status AS inbox_status, i.attempt_count, i.last_error,
         i.processed_at, i.updated_at
    FROM legacy l JOIN ${schema}.inbox_event i ON i.event_id = l.id::text
  UNION ALL
  SELECT l.id, l.seq, l.status, l.ordering_key, l.available_at,
         r.name, NULL, 0, NULL, NULL, NULL
    FROM legacy l CROSS JOIN registered r
   WHERE NOT EXISTS (SELECT 1 FROM ${schema}.inbox_event i
                      WHERE i.event_id = l.id::text AND i.consumer_name = r.name)
), mapped AS (
  SELECT p.*,
         CASE WHEN p.inbox_status = 'processed' THEN 'processed'
              WHEN p.inbox_status = 'skipped' THEN 'skipped'
              WHEN p.inbox_status = 'failed' AND p.event_status = 'dead_letter' THEN 'dead_letter'
              WHEN p.event_status = 'dead_letter' THEN NULL
              ELSE 'pending' END AS delivery_status
    FROM pairs p
), kept AS (
  SELECT * FROM mapped WHERE delivery_status IS NOT NULL
), numbered AS (
  SELECT e.id, st.next_position + row_number() OVER (ORDER BY e.seq) - 1 AS position
    FROM (SELECT DISTINCT id, seq FROM kept) e, st
), ins AS (
  INSERT INTO ${schema}.integration_delivery
         (event_id, consumer_name, position, ordering_key, status, attempt_count, available_at,
          last_error, updated_at, processed_at)
  SELECT k.id, k.consumer_name, n.position, k.ordering_key, k.delivery_status,
         CASE WHEN k.inbox_status = 'failed' THEN k.attempt_count ELSE 0 END,
         k.available_at,
         CASE WHEN k.inbox_status = 'failed' THEN k.last_error END,
         coalesce(k.updated_at, now()),
         CASE WHEN k.delivery_status IN ('processed', 'skipped') THEN k.processed_at END
    FROM kept k JOIN numbered n ON n.id = k.id
   ORDER BY n.position, k.consumer_name
  ON CONFLICT DO NOTHING
  RETURNING 1
)
UPDATE ${schema}.integration_sequencer s
   SET next_position = s.next_position + (SELECT count(*) FROM numbered), updated_at = now()
 WHERE s.id = 1;

-- 4. Unfinished legacy events (not dead letters) take this transaction's id, and the horizon
-- moves to this transaction's snapshot with this transaction still running in it: the first
-- sequencer run after the upgrade fans out exactly these events, to the consumers active then
-- (the deliveries of step 3 win: the sequencer inserts ON CONFLICT DO NOTHING). Every other
-- event, processed or dead-lettered by the per-event model, is behind the horizon and is never
-- fanned out. An unfinished window is dropped: what it had not taken yet is legacy and
-- unfinished, so it is among these events.
UPDATE ${schema}.outbox_event o SET tx_id = pg_current_xact_id()
  FROM ${schema}.integration_sequencer s
 WHERE s.id = 1 AND o.status IN ('pending', 'processing')
   AND (o.tx_id = '1' OR o.tx_id >= pg_snapshot_xmax(s.horizon)
        OR o.tx_id = ANY (ARRAY(SELECT pg_snapshot_xip(s.horizon))))
   AND NOT (s.window_snapshot IS NOT NULL AND pg_visible_in_snapshot(o.tx_id, s.window_snapshot)
            AND (o.tx_id, o.seq) <= (s.after_tx, s.after_seq));
-- A snapshot leaves out its own transaction: when later transactions have finished, this one's
-- id is below the snapshot's xmax and would read as committed before it. It goes into the
-- in-progress list by hand.
UPDATE ${schema}.integration_sequencer s
   SET horizon = CASE
         WHEN c.me >= pg_snapshot_xmax(c.snap) OR c.me = ANY (ARRAY(SELECT pg_snapshot_xip(c.snap)))
           THEN c.snap
         ELSE (SELECT format('%s:%s:%s', least(pg_snapshot_xmin(c.snap), c.me),
                             pg_snapshot_xmax(c.snap), string_agg(x::text, ',' ORDER BY x))::pg_snapshot
                 FROM (SELECT pg_snapshot_xip(c.snap) AS x UNION SELECT c.me) xs)
       END,
       window_snapshot = NULL, after_tx = NULL, after_seq = NULL, updated_at = now()
  FROM (SELECT pg_current_snapshot() AS snap, pg_current_xact_id() AS me) c
 WHERE s.id = 1;

-- 5. The per-event delivery state goes; available_at stays (delayed publish: no delivery is due
-- before it) and so does created_at. Dropping the columns would drop their indexes too: named
-- here so that it is plain.
DROP INDEX IF EXISTS ${schema}.outbox_event_claim_idx;
DROP INDEX IF EXISTS ${schema}.outbox_event_lease_idx;
DROP INDEX IF EXISTS ${schema}.outbox_event_ordering_idx;
DROP INDEX IF EXISTS ${schema}.outbox_event_dead_letter_idx;
DROP INDEX IF EXISTS ${schema}.outbox_event_processed_idx;
ALTER TABLE ${schema}.outbox_event
  DROP CONSTRAINT IF EXISTS outbox_event_status_check,
  DROP COLUMN status,
  DROP COLUMN attempt_count,
  DROP COLUMN locked_by,
  DROP COLUMN locked_until,
  DROP COLUMN last_error,
  DROP COLUMN processed_at,
  DROP COLUMN updated_at;

-- 6. The inbox rows of outbox events stay in inbox_event: harmless (nothing reads them for
-- outbox events any more) and InboxService keeps serving messages from outside with that table.

-- 7. Retention: finished events are purged by age.
CREATE INDEX outbox_event_created_idx ON ${schema}.outbox_event (created_at);
