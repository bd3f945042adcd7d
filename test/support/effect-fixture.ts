import { Pool } from 'pg';
import { JitterMode, type PublishEventInput } from '../../src/integration';
import type { IntegrationTestApp } from './integration-app';
import { createTestDatabase, type TestDatabase } from './test-database';

/** A retry policy that retries at once, five attempts in all. */
export const noRetryDelay = {
  maxAttempts: 5,
  baseDelayMs: 0,
  maxDelayMs: 0,
  jitter: JitterMode.None,
};

/** An event of aggregate `Thing` whose id (and default payload) is `key`. */
export const thingEvent = (
  name: string,
  key: string,
  payload: object = { key },
): PublishEventInput => ({ name, aggregateType: 'Thing', aggregateId: key, payload });

/** One row of {@link EffectFixture.status}: a delivery of an event to one consumer. */
export interface DeliveryStatusRow {
  readonly consumer: string;
  readonly status: string;
  readonly attempt_count: number;
}

/** What {@link useEffectFixture} provides to the tests of a describe block. */
export interface EffectFixture {
  readonly db: TestDatabase;
  /** A plain pool for the test's own reads and writes. */
  readonly pool: Pool;
  /** A pool with `pipeline: true`, for consumers with `concurrency` > 1. */
  readonly pipelined: Pool;
  /** Apps the test booted: closed after each test. */
  readonly apps: IntegrationTestApp[];
  /** `insert into <table> (consumer, event_id, note) values ($1, $2, $3)`. */
  readonly effectSql: string;
  /**
   * Consumer, status and attempt count of every delivery of the events named `name`, in publish
   * order, then by consumer.
   */
  status(name: string): Promise<DeliveryStatusRow[]>;
}

/**
 * Registers the hooks of a describe block whose handlers record their effects in `table`: a
 * database of its own with that table, a plain and a pipelined pool, the apps closed and the
 * tables emptied after each test, everything dropped at the end.
 */
export function useEffectFixture(table: string): EffectFixture {
  let db: TestDatabase | undefined;
  let pool: Pool | undefined;
  let pipelined: Pool | undefined;
  const apps: IntegrationTestApp[] = [];
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('useEffectFixture: used before its beforeAll ran');
    return value;
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3 });
    pipelined = new Pool({ connectionString: db.url, max: 8, pipeline: true });
    pipelined.on('error', () => undefined);
    await pool.query(
      `create table ${table} (seq serial primary key, consumer text not null, event_id text not null, note text)`,
    );
  });
  afterEach(async () => {
    while (apps.length) await apps.pop()!.close();
    // The consumer registry persists across apps: a consumer left registered by one test would
    // get deliveries of the next test's events that nobody handles.
    await ready(pool).query(
      `truncate ${table}, outbox_event, inbox_event, integration_delivery, integration_consumer, integration_consumer_host`,
    );
  });
  afterAll(async () => {
    await pipelined?.end();
    await pool?.end();
    await db?.drop();
  });

  return {
    get db() {
      return ready(db);
    },
    get pool() {
      return ready(pool);
    },
    get pipelined() {
      return ready(pipelined);
    },
    apps,
    effectSql: `insert into ${table} (consumer, event_id, note) values ($1, $2, $3)`,
    status: async (name) =>
      (
        await ready(pool).query<DeliveryStatusRow>(
          `select d.consumer_name as consumer, d.status, d.attempt_count
             from integration_delivery d join outbox_event o on o.id = d.event_id
            where o.event_name = $1 order by o.seq, d.consumer_name`,
          [name],
        )
      ).rows,
  };
}
