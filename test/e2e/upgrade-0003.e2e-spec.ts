import knexFactory, { type Knex } from 'knex';
import { Client, Pool } from 'pg';
import { ConsumerDirectoryRepository } from '../../src/integration/consumers/consumer-directory.repository';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import { integrationMigrationSource } from '../../src/integration/database/knex-migration-source';
import {
  migrateIntegrationTables,
  type MigrationClientLike,
} from '../../src/integration/database/migration-runner';
import { pgAdapter } from '../../src/integration/database/pg.adapter';
import { EventSequencer } from '../../src/integration/processing/event-sequencer.repository';
import { MODULE_TABLES, readSchemaSnapshot, type SchemaSnapshot } from '../support/schema-drift';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

/** Fixed ids, in publish (seq) order. */
const E = {
  /** pending, stored before 0002: billing processed, audit failed twice, mailer skipped. */
  pending: '00000000-0000-7000-8000-000000000001',
  /** processing with a live lease, published after 0002: only billing processed it. */
  processing: '00000000-0000-7000-8000-000000000002',
  /** processed before 0002: every consumer processed it. */
  processedOld: '00000000-0000-7000-8000-000000000003',
  /** processed after 0002 by the per-event model (a real tx_id the sequencer never saw). */
  processedNew: '00000000-0000-7000-8000-000000000004',
  /** dead letter: billing processed, audit failed for good, mailer never ran. */
  deadLetter: '00000000-0000-7000-8000-000000000005',
  /** pending, delayed, no consumer handled it yet. */
  untouched: '00000000-0000-7000-8000-000000000006',
} as const;

const LEASE_UNTIL = '2100-01-01T00:00:00.000Z';
const DELAYED_UNTIL = '2099-06-01T00:00:00.000Z';

/** The outbox row of a legacy event, in the 0001 column set (plus tx_id for pre-0002 rows). */
interface LegacyEvent {
  readonly id: string;
  readonly name: string;
  readonly status: 'pending' | 'processing' | 'processed' | 'dead_letter';
  readonly beforeMigration0002: boolean;
  readonly attempts?: number;
  readonly lockedBy?: string;
  readonly lockedUntil?: string;
  readonly lastError?: string;
  readonly availableAt?: string;
}

const EVENTS: readonly LegacyEvent[] = [
  { id: E.pending, name: 'vault.opened', status: 'pending', beforeMigration0002: true },
  {
    id: E.processing,
    name: 'vault.closed',
    status: 'processing',
    beforeMigration0002: false,
    attempts: 1,
    lockedBy: 'old-worker',
    lockedUntil: LEASE_UNTIL,
  },
  { id: E.processedOld, name: 'vault.opened', status: 'processed', beforeMigration0002: true },
  { id: E.processedNew, name: 'vault.opened', status: 'processed', beforeMigration0002: false },
  {
    id: E.deadLetter,
    name: 'vault.opened',
    status: 'dead_letter',
    beforeMigration0002: false,
    attempts: 5,
    lastError: 'audit: fatal',
  },
  {
    id: E.untouched,
    name: 'vault.audited',
    status: 'pending',
    beforeMigration0002: true,
    availableAt: DELAYED_UNTIL,
  },
];

/** Inbox rows: [event, consumer, status, attempts, error]. One row is of an outside message. */
const INBOX: readonly (readonly [string, string, string, number, string | null])[] = [
  [E.pending, 'billing', 'processed', 1, null],
  [E.pending, 'audit', 'failed', 2, 'boom'],
  [E.pending, 'mailer', 'skipped', 1, null],
  [E.processing, 'billing', 'processed', 1, null],
  [E.processedOld, 'billing', 'processed', 1, null],
  [E.processedOld, 'audit', 'processed', 1, null],
  [E.processedOld, 'mailer', 'processed', 1, null],
  [E.processedNew, 'billing', 'processed', 1, null],
  [E.processedNew, 'audit', 'processed', 1, null],
  [E.deadLetter, 'billing', 'processed', 1, null],
  [E.deadLetter, 'audit', 'failed', 5, 'fatal'],
  ['webhook-message-1', 'webhooks', 'processed', 1, null],
];

/** Writes the legacy rows into a 0001 (+ 0002) schema, each statement in its own transaction. */
async function seedLegacyRows(client: Pick<Client, 'query'>, with0002: boolean): Promise<void> {
  for (const e of EVENTS) {
    await client.query(
      `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key,
                                 payload, status, attempt_count, locked_by, locked_until, last_error,
                                 available_at, processed_at, created_at)
       VALUES ($1::uuid, $2, 'vault', $1, $1, '{}'::jsonb, $3, $4, $5, $6::timestamptz, $7,
               coalesce($8::timestamptz, now()),
               CASE WHEN $3 = 'processed' THEN now() END, now())`,
      [
        e.id,
        e.name,
        e.status,
        e.attempts ?? 0,
        e.lockedBy ?? null,
        e.lockedUntil ?? null,
        e.lastError ?? null,
        e.availableAt ?? null,
      ],
    );
    // 0002 gave the rows stored before it tx_id '1'; rows written since carry their own.
    if (with0002 && e.beforeMigration0002) {
      await client.query(`UPDATE outbox_event SET tx_id = '1' WHERE id = $1::uuid`, [e.id]);
    }
  }
  for (const [event, consumer, status, attempts, error] of INBOX) {
    await client.query(
      `INSERT INTO inbox_event (event_id, consumer_name, status, attempt_count, last_error, processed_at)
       VALUES ($1, $2, $3, $4, $5, CASE WHEN $3 IN ('processed', 'skipped') THEN now() END)`,
      [event, consumer, status, attempts, error],
    );
  }
}

interface DeliveryRow {
  event_id: string;
  consumer_name: string;
  position: string;
  ordering_key: string;
  status: string;
  attempt_count: number;
  last_error: string | null;
  available_at: string;
  locked_by: string | null;
  processed: boolean;
}

async function deliveries(client: Pick<Client, 'query'>): Promise<DeliveryRow[]> {
  const { rows } = await client.query<DeliveryRow>(
    `SELECT event_id::text, consumer_name, position::text, ordering_key, status, attempt_count,
            last_error, to_char(available_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
              AS available_at, locked_by, processed_at IS NOT NULL AS processed
       FROM integration_delivery ORDER BY position, consumer_name`,
  );
  return rows;
}

async function columnsOf(client: Pick<Client, 'query'>, table: string): Promise<string[]> {
  const { rows } = await client.query<{ column_name: string }>(
    `SELECT column_name FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name = $1 ORDER BY column_name`,
    [table],
  );
  return rows.map((r) => r.column_name);
}

/** A snapshot with column positions left out (a column added back lands at the end). */
function unordered(snapshot: SchemaSnapshot): SchemaSnapshot {
  return Object.fromEntries(
    Object.entries(snapshot).map(([table, facts]) => [
      table,
      facts.map((f) => f.replace(/^column #\d+ /, 'column ')).sort(),
    ]),
  );
}

const delivery = (
  event: string,
  consumer: string,
  position: number,
  status: string,
  extra: Partial<DeliveryRow> = {},
): DeliveryRow => ({
  event_id: event,
  consumer_name: consumer,
  position: String(position),
  ordering_key: event,
  status,
  attempt_count: 0,
  last_error: null,
  available_at: expect.any(String) as unknown as string,
  locked_by: null,
  processed: status === 'processed' || status === 'skipped',
  ...extra,
});

describe('migration 0003: the per-consumer model becomes the only one (issue 13 upgrade)', () => {
  const dropLater: TestDatabase[] = [];
  const tables = new IntegrationTables();
  const directory = new ConsumerDirectoryRepository(tables);
  const sequencer = new EventSequencer(tables);

  async function connect(url: string): Promise<Client> {
    const client = new Client({ connectionString: url });
    await client.connect();
    return client;
  }

  async function legacyDatabase(): Promise<{ db: TestDatabase; client: Client }> {
    const db = await createTestDatabase({ migrated: false });
    dropLater.push(db);
    const client = await connect(db.url);
    await migrateIntegrationTables(client, { to: '0002_per_consumer_delivery' });
    await seedLegacyRows(client, true);
    return { db, client };
  }

  afterAll(async () => {
    await Promise.all(dropLater.map((db) => db.drop()));
  });

  it('moves every legacy state into deliveries, pre-registers the consumers and drops the per-event columns', async () => {
    const { client } = await legacyDatabase();
    try {
      expect(await migrateIntegrationTables(client)).toEqual({
        schema: 'public',
        applied: [
          '0003_per_consumer_only',
          '0004_admin_audit_and_stats',
          '0005_tenant_columns',
          '0006_tenant_lane',
        ],
        alreadyApplied: ['0001_integration_tables', '0002_per_consumer_delivery'],
      });

      // Unfinished events in seq order get positions 1..4; finished ones get nothing.
      expect(await deliveries(client)).toEqual([
        delivery(E.pending, 'audit', 1, 'pending', {
          attempt_count: 2,
          last_error: 'boom',
          processed: false,
        }),
        delivery(E.pending, 'billing', 1, 'processed'),
        delivery(E.pending, 'mailer', 1, 'skipped'),
        delivery(E.processing, 'audit', 2, 'pending'),
        delivery(E.processing, 'billing', 2, 'processed'),
        delivery(E.processing, 'mailer', 2, 'pending'),
        delivery(E.deadLetter, 'audit', 3, 'dead_letter', {
          attempt_count: 5,
          last_error: 'fatal',
        }),
        delivery(E.deadLetter, 'billing', 3, 'processed'),
        delivery(E.untouched, 'audit', 4, 'pending', { available_at: DELAYED_UNTIL }),
        delivery(E.untouched, 'billing', 4, 'pending', { available_at: DELAYED_UNTIL }),
        delivery(E.untouched, 'mailer', 4, 'pending', { available_at: DELAYED_UNTIL }),
      ]);
      // A delivery is not due before its event was.
      const { rows: due } = await client.query<{ ok: boolean }>(
        `SELECT bool_and(d.available_at = o.available_at) AS ok
           FROM integration_delivery d JOIN outbox_event o ON o.id = d.event_id
          WHERE d.status = 'pending'`,
      );
      expect(due).toEqual([{ ok: true }]);
      const { rows: seq } = await client.query(
        'SELECT next_position::int, window_snapshot FROM integration_sequencer',
      );
      expect(seq).toEqual([{ next_position: 5, window_snapshot: null }]);

      // Consumers named by inbox rows of outbox events, not the outside message's.
      const { rows: consumers } = await client.query(
        `SELECT name, patterns, pattern_regex, status FROM integration_consumer ORDER BY name`,
      );
      expect(consumers).toEqual(
        ['audit', 'billing', 'mailer'].map((name) => ({
          name,
          patterns: [],
          pattern_regex: null,
          status: 'active',
        })),
      );

      // The unfinished non-dead-letter events carry the migration's transaction (the one that
      // recorded 0003); the others keep theirs.
      const { rows: tx } = await client.query<{ id: string; tx: string }>(
        `SELECT o.id::text,
                CASE WHEN o.tx_id = '1' THEN 'one'
                     WHEN (o.tx_id::text::numeric % 4294967296)::text = m.xmin::text THEN 'migration'
                     ELSE 'own' END AS tx
           FROM outbox_event o, nestjs_integration_migrations m
          WHERE m.version = '0003' ORDER BY o.seq`,
      );
      expect(Object.fromEntries(tx.map((r) => [r.id, r.tx]))).toEqual({
        [E.pending]: 'migration',
        [E.processing]: 'migration',
        [E.processedOld]: 'one',
        [E.processedNew]: 'own',
        [E.deadLetter]: 'own',
        [E.untouched]: 'migration',
      });

      expect(await columnsOf(client, 'outbox_event')).toEqual(
        [
          'aggregate_id',
          'aggregate_type',
          'available_at',
          'causation_id',
          'correlation_id',
          'created_at',
          'event_name',
          'event_version',
          'headers',
          'id',
          'idempotency_key',
          'ordering_key',
          'payload',
          'seq',
          'source_module',
          'tenant_id',
          'tx_id',
        ].sort(),
      );
      const { rows: indexes } = await client.query<{ indexname: string }>(
        `SELECT indexname FROM pg_indexes WHERE tablename = 'outbox_event' ORDER BY indexname`,
      );
      // (0003 dropped the per-event indexes; 0004, applied after it, adds the admin filters',
      // 0006 the tenant lane's.)
      expect(indexes.map((r) => r.indexname)).toEqual([
        'outbox_event_aggregate_idx',
        'outbox_event_correlation_idx',
        'outbox_event_created_idx',
        'outbox_event_idempotency_uq',
        'outbox_event_name_idx',
        'outbox_event_pkey',
        'outbox_event_tenant_idx',
        'outbox_event_tenant_tx_idx',
        'outbox_event_tx_idx',
      ]);
      // The inbox rows stay.
      const { rows: inbox } = await client.query('SELECT count(*)::int AS n FROM inbox_event');
      expect(inbox).toEqual([{ n: INBOX.length }]);
    } finally {
      await client.end();
    }
  });

  it('after the upgrade: announce prunes, the sequencer fans the pending legacy events out to new consumers only, nothing twice', async () => {
    const { db, client } = await legacyDatabase();
    await migrateIntegrationTables(client);
    await client.end();
    const pool = new Pool({ connectionString: db.url, max: 2 });
    const adapter = pgAdapter(pool);
    try {
      await directory.announce(adapter.root, 'new-worker', [
        { name: 'billing', patterns: ['vault.opened'] },
        { name: 'audit', patterns: ['vault.closed', 'vault.audited'] },
        { name: 'mailer', patterns: ['vault.closed'] },
        { name: 'ledger', patterns: ['vault.*'] },
      ]);
      const pruned = (await deliveries(pool)).map((d) => `${d.consumer_name}:${d.event_id}`);
      // billing and mailer do not handle vault.audited: their untouched deliveries of it go.
      expect(pruned).not.toContain(`billing:${E.untouched}`);
      expect(pruned).not.toContain(`mailer:${E.untouched}`);
      // audit does not handle vault.opened any more, but it failed on it: that one stays.
      expect(pruned).toContain(`audit:${E.pending}`);
      expect(pruned).toHaveLength(9);

      const first = await sequencer.sequence(adapter, 100);
      expect(first).toEqual({
        locked: true,
        events: 3,
        deliveries: 3,
        more: false,
        tenanted: false,
      });
      // A later announce does not prune again: the consumers have their regex now.
      await directory.announce(adapter.root, 'new-worker', [
        { name: 'mailer', patterns: ['vault.audited'] },
      ]);
      // An event published after the upgrade goes the normal way.
      await pool.query(
        `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
         VALUES ('00000000-0000-7000-8000-000000000007', 'vault.opened', 'vault', 'x', 'x', '{}')`,
      );
      expect(await sequencer.sequence(adapter, 100)).toEqual({
        locked: true,
        events: 1,
        deliveries: 2,
        more: false,
        tenanted: false,
      });
      expect(await sequencer.sequence(adapter, 100)).toEqual({
        locked: true,
        events: 0,
        deliveries: 0,
        more: false,
        tenanted: false,
      });

      const rows = await deliveries(pool);
      const after = new Map(rows.map((d) => [`${d.consumer_name}:${d.event_id}`, d]));
      // The new consumer gets the pending and processing legacy events, in publish order,
      // after the migration's positions; not the processed or dead-lettered ones.
      expect(
        rows
          .filter((d) => d.consumer_name === 'ledger')
          .map((d) => [d.event_id, d.position, d.status]),
      ).toEqual([
        [E.pending, '5', 'pending'],
        [E.processing, '6', 'pending'],
        [E.untouched, '7', 'pending'],
        ['00000000-0000-7000-8000-000000000007', '8', 'pending'],
      ]);
      // Nothing is delivered twice: what billing processed stays processed, and no processed
      // event (before or after 0002) got a delivery.
      expect(after.get(`billing:${E.pending}`)?.status).toBe('processed');
      expect(after.get(`billing:${E.processing}`)?.status).toBe('processed');
      for (const id of [E.processedOld, E.processedNew]) {
        expect(rows.filter((d) => d.event_id === id)).toEqual([]);
      }
      expect(after.get(`audit:${E.pending}`)).toMatchObject({
        status: 'pending',
        attempt_count: 2,
      });
      expect(after.get(`mailer:${E.untouched}`)).toBeUndefined();
      // mailer's second announce no longer matches vault.closed, and prunes nothing.
      expect(after.get(`mailer:${E.processing}`)?.status).toBe('pending');
      expect(rows).toHaveLength(9 + 3 + 2);
      const { rows: regex } = await pool.query(
        'SELECT count(*)::int AS n FROM integration_consumer WHERE pattern_regex IS NULL',
      );
      expect(regex).toEqual([{ n: 0 }]);
    } finally {
      await pool.end();
    }
  });

  it('0002 and 0003 in one transaction: the pending legacy events still reach new consumers', async () => {
    const db = await createTestDatabase({ migrated: false });
    dropLater.push(db);
    const client = await connect(db.url);
    const other = await connect(db.url);
    try {
      await migrateIntegrationTables(client, { to: '0001_integration_tables' });
      await seedLegacyRows(client, false);
      // Before 0002 runs, the migration transaction has its id and a later transaction
      // commits: 0002's horizon snapshot then has an xmax past the migration's own id.
      const interleaved: MigrationClientLike = {
        query: async (text: string, values?: unknown[]) => {
          if (text.startsWith('-- nestjs-integration 0002')) {
            await client.query('SELECT pg_current_xact_id()');
            await other.query('SELECT pg_current_xact_id()');
          }
          return client.query(text, values);
        },
      };
      expect((await migrateIntegrationTables(interleaved)).applied).toEqual([
        '0002_per_consumer_delivery',
        '0003_per_consumer_only',
        '0004_admin_audit_and_stats',
        '0005_tenant_columns',
        '0006_tenant_lane',
      ]);
      const pool = new Pool({ connectionString: db.url, max: 2 });
      try {
        const adapter = pgAdapter(pool);
        await directory.announce(adapter.root, 'w', [{ name: 'ledger', patterns: ['vault.**'] }]);
        expect(await sequencer.sequence(adapter, 100)).toMatchObject({ events: 3, deliveries: 3 });
        const ledger = (await deliveries(pool)).filter((d) => d.consumer_name === 'ledger');
        expect(ledger.map((d) => d.event_id)).toEqual([E.pending, E.processing, E.untouched]);
      } finally {
        await pool.end();
      }
    } finally {
      await other.end();
      await client.end();
    }
  });

  it('the Knex rollback restores a usable 0002 schema, statuses derived from the deliveries', async () => {
    const db = await createTestDatabase({ migrated: false });
    dropLater.push(db);
    const knex: Knex = knexFactory({
      client: 'pg',
      connection: { connectionString: db.url },
      pool: { min: 0, max: 1 },
      migrations: {
        migrationSource: integrationMigrationSource(),
        tableName: 'nestjs_integration_knex_migrations',
      },
    });
    const client = await connect(db.url);
    try {
      await knex.migrate.up();
      await knex.migrate.up();
      const at0002 = await readSchemaSnapshot(db.url, { tables: MODULE_TABLES });
      await seedLegacyRows(client, true);
      await knex.migrate.up();
      // A delivery finished after the upgrade: audit processes the processing event.
      await client.query(
        `UPDATE integration_delivery SET status = 'processed', processed_at = now()
          WHERE consumer_name = 'audit' AND event_id = $1::uuid`,
        [E.processing],
      );
      await knex.migrate.down();

      expect(unordered(await readSchemaSnapshot(db.url, { tables: MODULE_TABLES }))).toEqual(
        unordered(at0002),
      );
      const { rows: events } = await client.query<{
        id: string;
        status: string;
        attempt_count: number;
        last_error: string | null;
        processed: boolean;
      }>(
        `SELECT id::text, status, attempt_count, last_error, processed_at IS NOT NULL AS processed
           FROM outbox_event ORDER BY seq`,
      );
      expect(events).toEqual([
        {
          id: E.pending,
          status: 'pending',
          attempt_count: 2,
          last_error: 'boom',
          processed: false,
        },
        {
          id: E.processing,
          status: 'pending',
          attempt_count: 0,
          last_error: null,
          processed: false,
        },
        {
          id: E.processedOld,
          status: 'processed',
          attempt_count: 0,
          last_error: null,
          processed: true,
        },
        {
          id: E.processedNew,
          status: 'processed',
          attempt_count: 0,
          last_error: null,
          processed: true,
        },
        {
          id: E.deadLetter,
          status: 'dead_letter',
          attempt_count: 5,
          last_error: 'fatal',
          processed: false,
        },
        {
          id: E.untouched,
          status: 'pending',
          attempt_count: 0,
          last_error: null,
          processed: false,
        },
      ]);
      // What audit finished after the upgrade is in the inbox: the per-event dispatcher skips it.
      const { rows: inbox } = await client.query(
        `SELECT status FROM inbox_event WHERE event_id = $1 AND consumer_name = 'audit'`,
        [E.processing],
      );
      expect(inbox).toEqual([{ status: 'processed' }]);
      const { rows: consumers } = await client.query(
        `SELECT DISTINCT pattern_regex FROM integration_consumer`,
      );
      expect(consumers).toEqual([{ pattern_regex: '^$' }]);
      // The old publish shape works again (defaults of the restored columns).
      await client.query(
        `INSERT INTO outbox_event (id, event_name, aggregate_type, aggregate_id, ordering_key, payload)
         VALUES ('00000000-0000-7000-8000-000000000009', 'vault.opened', 'vault', 'y', 'y', '{}')`,
      );
      const { rows: fresh } = await client.query(
        `SELECT status, attempt_count FROM outbox_event WHERE id = '00000000-0000-7000-8000-000000000009'`,
      );
      expect(fresh).toEqual([{ status: 'pending', attempt_count: 0 }]);

      // And 0003 applies again on top of it.
      await knex.migrate.up();
      expect(await columnsOf(client, 'outbox_event')).not.toContain('status');
    } finally {
      await client.end();
      await knex.destroy();
    }
  });
});
