import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import { consumerPatternRegex } from './consumer-pattern';
import {
  CONSUMER_HOST_ALIVE_MS,
  ConsumerStatus,
  type AnnouncedConsumer,
  type ConsumerInfo,
  type RetireConsumerResult,
} from './consumer.types';

/** A consumer as {@link ConsumerDirectoryRepository.announce} takes it. */
export interface AnnouncedConsumerInput {
  readonly name: string;
  /** Valid event patterns (see `isValidEventPattern`); stored as given, matched as a regex. */
  readonly patterns: readonly string[];
}

/** Columns of the list statement, cast so Prisma, Knex and pg return identical values. */
interface ConsumerRow {
  name: string;
  patterns: string;
  status: string;
  created_at: number;
  updated_at: number;
  retired_at: number | null;
  hosts: string;
  pending: number;
  processing: number;
  dead_letter: number;
}

/** A host as the list statement's JSON carries it. */
interface HostJson {
  workerId: string;
  startedAt: number;
  heartbeatAt: number;
  heartbeatAgeMs: number;
}

const ms = (column: string): string => `(extract(epoch from ${column}) * 1000)::float8`;

/** Every statement of {@link ConsumerDirectoryRepository} for one set of tables, built once. */
function consumerStatements(t: IntegrationTables) {
  const listColumns = `c.name, array_to_json(c.patterns)::text AS patterns, c.status,
         ${ms('c.created_at')} AS created_at, ${ms('c.updated_at')} AS updated_at,
         ${ms('c.retired_at')} AS retired_at,
         (SELECT coalesce(json_agg(json_build_object(
                    'workerId', h.worker_id,
                    'startedAt', ${ms('h.started_at')},
                    'heartbeatAt', ${ms('h.heartbeat_at')},
                    'heartbeatAgeMs', ${ms('now() - h.heartbeat_at')})
                  ORDER BY h.worker_id), '[]'::json)::text
            FROM ${t.consumerHost} h WHERE h.consumer_name = c.name) AS hosts,
         -- One scalar sub-select per status, each on the partial index that holds it.
         (SELECT count(*)::int FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'pending') AS pending,
         (SELECT count(*)::int FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'processing') AS processing,
         (SELECT count(*)::int FROM ${t.delivery} d
           WHERE d.consumer_name = c.name AND d.status = 'dead_letter') AS dead_letter`;
  return {
    // One statement: consumers and host rows commit together. Rows go in name order, so two
    // instances announcing overlapping consumers at once lock them in the same order.
    announce: `WITH input AS (
         SELECT x.name, ARRAY(SELECT jsonb_array_elements_text(x.patterns)) AS patterns,
                x.pattern_regex
           FROM jsonb_to_recordset($2::jsonb) AS x(name text, patterns jsonb, pattern_regex text)
       ), before AS (
         SELECT c.name, c.patterns, c.pattern_regex IS NULL AS legacy
           FROM ${t.consumer} c WHERE c.name IN (SELECT name FROM input)
       ), upserted AS (
         INSERT INTO ${t.consumer} AS c (name, patterns, pattern_regex)
         SELECT name, patterns, pattern_regex FROM input ORDER BY name
         ON CONFLICT (name) DO UPDATE
            SET patterns = excluded.patterns, pattern_regex = excluded.pattern_regex,
                updated_at = CASE WHEN c.patterns IS DISTINCT FROM excluded.patterns
                                    OR c.pattern_regex IS DISTINCT FROM excluded.pattern_regex
                                  THEN now() ELSE c.updated_at END
         -- xmax is 0 on a row this statement inserted, and names the locker on one it updated
         -- (exact under concurrency, where the before CTE may predate another instance's insert).
         RETURNING c.name, c.status, c.patterns, (c.xmax = '0'::xid) AS created
       ), hosts AS (
         INSERT INTO ${t.consumerHost} (consumer_name, worker_id)
         SELECT name, $1::text FROM input ORDER BY name
         ON CONFLICT (consumer_name, worker_id) DO UPDATE SET heartbeat_at = now()
         RETURNING consumer_name
       )
       -- The host rows need no reference here: PostgreSQL runs every data-modifying CTE.
       SELECT u.name, u.status, u.created, coalesce(b.legacy, false) AS legacy,
              (NOT u.created AND b.name IS NOT NULL AND b.patterns IS DISTINCT FROM u.patterns)
                AS patterns_changed
         FROM upserted u LEFT JOIN before b ON b.name = u.name`,
    // A consumer known only from the 0003 upgrade (no regex yet) got a pending delivery of every
    // unfinished legacy event; now that its patterns are known, those it does not handle go.
    // Only untouched ones (attempt 0): a delivery it failed on stays. A statement of its own,
    // run only for such consumers, so an ordinary announce never writes the delivery table.
    pruneLegacy: `DELETE FROM ${t.delivery} d
          USING jsonb_to_recordset($1::jsonb) AS i(name text, pattern_regex text), ${t.outbox} o
          WHERE d.consumer_name = i.name AND d.status = 'pending' AND d.attempt_count = 0
            AND o.id = d.event_id AND ('.' || o.event_name) !~ i.pattern_regex`,
    // Waits for a sequencer run in progress, then keeps the sequencer off until this transaction
    // ends: a consumer announced and backfilled under this lock gets every retained event before
    // any event the sequencer fans out after it.
    lockSequencer: `SELECT 1 FROM ${t.sequencer} WHERE id = 1 FOR UPDATE`,
    // Every event the sequencer has seen (inside its horizon, or already taken from its open
    // window) that a consumer's patterns match, one position per event after every position
    // given so far, in publish order (transaction, then sequence).
    backfill: `WITH st AS (SELECT * FROM ${t.sequencer} WHERE id = 1),
       seen AS (
         SELECT o.id, o.event_name, o.ordering_key, o.available_at, o.tx_id, o.seq
           FROM ${t.outbox} o, st
          WHERE pg_visible_in_snapshot(o.tx_id, st.horizon)
             OR (st.window_snapshot IS NOT NULL AND pg_visible_in_snapshot(o.tx_id, st.window_snapshot)
                 AND (o.tx_id, o.seq) <= (st.after_tx, st.after_seq))
       ), matched AS (
         SELECT s.*, c.name AS consumer_name
           FROM seen s
           JOIN ${t.consumer} c ON c.name IN (SELECT jsonb_array_elements_text($1::jsonb))
                                AND ('.' || s.event_name) ~ c.pattern_regex
       ), numbered AS (
         SELECT m.*, st.next_position + dense_rank() OVER (ORDER BY m.tx_id, m.seq) - 1 AS position
           FROM matched m, st
       ), ins AS (
         INSERT INTO ${t.delivery} (event_id, consumer_name, position, ordering_key, available_at)
         SELECT id, consumer_name, position, ordering_key, available_at FROM numbered
          ORDER BY position, consumer_name
         ON CONFLICT DO NOTHING
         RETURNING consumer_name
       ), advanced AS (
         UPDATE ${t.sequencer} s
            SET next_position = s.next_position + (SELECT count(DISTINCT id) FROM numbered)
          WHERE s.id = 1
         RETURNING 1
       )
       SELECT c.name AS consumer, count(ins.consumer_name)::int AS n,
              (SELECT count(*) FROM advanced)::int AS advanced
         FROM (SELECT jsonb_array_elements_text($1::jsonb) AS name) c
         LEFT JOIN ins ON ins.consumer_name = c.name
        GROUP BY c.name`,
    // Counted statements return a row per row they changed: the Prisma adapter's rowCount is the
    // number of rows returned (Prisma's raw queries report no count of affected rows).
    heartbeat: `UPDATE ${t.consumerHost} SET heartbeat_at = now() WHERE worker_id = $1::text
       RETURNING 1`,
    removeHost: `DELETE FROM ${t.consumerHost} WHERE worker_id = $1::text RETURNING 1`,
    removeStaleHosts: `DELETE FROM ${t.consumerHost}
        WHERE heartbeat_at < now() - $1::float8 * interval '1 millisecond'
       RETURNING 1`,
    // One statement, so no delivery is left unfinished behind a retired consumer by a crash
    // between two. The consumer row is locked first: a concurrent reactivate waits for it.
    // Deliveries are skipped even when the consumer was retired already, which also catches
    // ones fanned out by a sequencer run that read the consumer as active just before.
    retire: `WITH target AS (
         SELECT c.name, c.status FROM ${t.consumer} c WHERE c.name = $1::text FOR UPDATE
       ), retired AS (
         UPDATE ${t.consumer} c SET status = 'retired', retired_at = now(), updated_at = now()
           FROM target WHERE c.name = target.name AND target.status = 'active'
         RETURNING c.name
       ), skipped AS (
         UPDATE ${t.delivery} d
            SET status = 'skipped', last_error = 'consumer retired: ' || $2::text, locked_by = NULL, locked_until = NULL,
                updated_at = now()
          WHERE d.consumer_name = $1::text AND d.status IN ('pending', 'processing', 'dead_letter')
            AND EXISTS (SELECT 1 FROM target)
         RETURNING 1
       )
       SELECT (SELECT count(*)::int FROM retired) AS retired,
              (SELECT count(*)::int FROM skipped) AS skipped`,
    reactivate: `UPDATE ${t.consumer}
          SET status = 'active', retired_at = NULL, updated_at = now()
        WHERE name = $1::text AND status = 'retired'
       RETURNING 1`,
    list: `SELECT ${listColumns} FROM ${t.consumer} c ORDER BY c.name`,
    find: `SELECT ${listColumns} FROM ${t.consumer} c WHERE c.name = $1::text`,
    names: `SELECT name FROM ${t.consumer} ORDER BY name`,
  };
}

function mapConsumer(row: ConsumerRow): ConsumerInfo {
  const hosts = JSON.parse(row.hosts) as HostJson[];
  return {
    name: row.name,
    patterns: JSON.parse(row.patterns) as string[],
    status: row.status as ConsumerStatus,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    retiredAt: row.retired_at === null ? null : new Date(row.retired_at),
    hosts: hosts.map((h) => ({
      workerId: h.workerId,
      startedAt: new Date(h.startedAt),
      heartbeatAt: new Date(h.heartbeatAt),
      heartbeatAgeMs: h.heartbeatAgeMs,
      alive: h.heartbeatAgeMs < CONSUMER_HOST_ALIVE_MS,
    })),
    deliveries: {
      pending: row.pending,
      processing: row.processing,
      deadLetter: row.dead_letter,
    },
  };
}

/**
 * SQL of the consumer directory: which consumers exist cluster-wide (`integration_consumer`),
 * which instances host them (`integration_consumer_host`), and retiring them. Takes the
 * executor per call, so it runs on the root client or inside a caller's transaction alike.
 */
@Injectable()
export class ConsumerDirectoryRepository {
  private readonly statements: ReturnType<typeof consumerStatements>;

  constructor(tables: IntegrationTables) {
    this.statements = consumerStatements(tables);
  }

  /**
   * Upserts the consumers this instance hosts (their patterns and regex replaced, their status
   * untouched) and this instance's host rows, in one statement. A consumer stored without a
   * regex (pre-registered by the 0003 upgrade) then loses, in a second statement, its pending
   * deliveries never attempted whose event its patterns do not match. Returns what each
   * consumer's stored row says: a retired consumer stays retired.
   * @throws InvalidEventPatternError for an invalid pattern, before any SQL.
   */
  async announce(
    sql: SqlExecutor,
    workerId: string,
    consumers: readonly AnnouncedConsumerInput[],
  ): Promise<Map<string, AnnouncedConsumer>> {
    const input = consumers.map((c) => ({
      name: c.name,
      patterns: [...c.patterns],
      pattern_regex: consumerPatternRegex(c.patterns),
    }));
    const result = new Map<string, AnnouncedConsumer>();
    if (input.length === 0) return result;
    const { rows } = await sql.query<{
      name: string;
      status: string;
      created: boolean;
      legacy: boolean;
      patterns_changed: boolean;
    }>(this.statements.announce, [workerId, JSON.stringify(input)]);
    const legacy = input.filter((c) => rows.some((r) => r.legacy && r.name === c.name));
    if (legacy.length > 0) {
      await sql.query(this.statements.pruneLegacy, [
        JSON.stringify(legacy.map((c) => ({ name: c.name, pattern_regex: c.pattern_regex }))),
      ]);
    }
    for (const row of rows) {
      result.set(row.name, {
        status: row.status as ConsumerStatus,
        created: row.created,
        patternsChanged: row.patterns_changed,
      });
    }
    return result;
  }

  /**
   * Locks the sequencer's row until the transaction of `sql` ends (waiting for a run in
   * progress): no event is fanned out meanwhile. For announcing and backfilling new consumers.
   */
  async lockSequencer(sql: SqlExecutor): Promise<void> {
    await sql.query(this.statements.lockSequencer);
  }

  /**
   * Gives `consumers` a delivery of every retained event their patterns match that the
   * sequencer has already seen, positioned before anything fanned out later. Run it with the
   * sequencer locked ({@link lockSequencer}) in the transaction that announced them. Returns
   * the deliveries created per consumer.
   */
  async backfill(sql: SqlExecutor, consumers: readonly string[]): Promise<Map<string, number>> {
    if (consumers.length === 0) return new Map();
    const { rows } = await sql.query<{ consumer: string; n: number }>(this.statements.backfill, [
      JSON.stringify(consumers),
    ]);
    return new Map(rows.map((r) => [r.consumer, r.n]));
  }

  /** Touches this worker's host rows; returns how many there were (0: they were removed). */
  async heartbeat(sql: SqlExecutor, workerId: string): Promise<number> {
    return (await sql.query(this.statements.heartbeat, [workerId])).rowCount;
  }

  /** Deletes this worker's host rows (at stop); returns how many. */
  async removeHost(sql: SqlExecutor, workerId: string): Promise<number> {
    return (await sql.query(this.statements.removeHost, [workerId])).rowCount;
  }

  /**
   * Retires an active consumer and, in the same statement, skips its pending, processing and
   * dead-letter deliveries with `last_error` = `consumer retired: <reason>`. `retired` is false
   * when the consumer was retired already (its unfinished deliveries are skipped all the same),
   * or does not exist (then `skipped` is 0).
   */
  async retire(sql: SqlExecutor, name: string, reason: string): Promise<RetireConsumerResult> {
    const { rows } = await sql.query<{ retired: number; skipped: number }>(this.statements.retire, [
      name,
      reason,
    ]);
    return { retired: rows[0]!.retired > 0, skipped: rows[0]!.skipped };
  }

  /**
   * Makes a retired consumer active again. Events sequenced while it was retired are not
   * delivered to it. False when it is not retired (active already, or unknown).
   */
  async reactivate(sql: SqlExecutor, name: string): Promise<boolean> {
    return (await sql.query(this.statements.reactivate, [name])).rowCount > 0;
  }

  /** Every known consumer by name, with its hosts and unfinished deliveries. */
  async list(sql: SqlExecutor): Promise<ConsumerInfo[]> {
    const { rows } = await sql.query<ConsumerRow>(this.statements.list);
    return rows.map(mapConsumer);
  }

  /** One consumer, with its hosts and unfinished deliveries; undefined when unknown. */
  async find(sql: SqlExecutor, name: string): Promise<ConsumerInfo | undefined> {
    const { rows } = await sql.query<ConsumerRow>(this.statements.find, [name]);
    return rows[0] === undefined ? undefined : mapConsumer(rows[0]);
  }

  /** The names of every known consumer, sorted (for suggestions). */
  async names(sql: SqlExecutor): Promise<string[]> {
    const { rows } = await sql.query<{ name: string }>(this.statements.names);
    return rows.map((r) => r.name);
  }

  /** Deletes host rows whose heartbeat is older than `olderThanMs`; returns how many. */
  async removeStaleHosts(sql: SqlExecutor, olderThanMs: number): Promise<number> {
    return (await sql.query(this.statements.removeStaleHosts, [olderThanMs])).rowCount;
  }
}
