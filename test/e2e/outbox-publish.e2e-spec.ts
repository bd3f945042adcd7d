import { Client, Pool, type PoolClient } from 'pg';
import {
  CommitNotSupportedError,
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationAdminService,
  InvalidEventError,
  OutboxProcessor,
  PUBLISH_CHUNK_SIZE,
  PayloadTooLargeError,
  TransactionRequiredError,
  pgAdapter,
  type PublishEventInput,
} from '../../src/integration';
import {
  createIntegrationApp,
  inTransaction,
  withPool,
  type IntegrationTestApp,
  type OrmKind,
  registerCatchAll,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const event = (over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'vault.opened',
  aggregateType: 'Vault',
  aggregateId: 'v-1',
  payload: { owner: 'alice' },
  ...over,
});

describe.each<OrmKind>(['prisma', 'knex', 'pg'])('DomainEventPublisher with %s', (orm) => {
  let db: TestDatabase;
  let t: IntegrationTestApp;
  let publisher: DomainEventPublisher;
  let pool: Pool;

  const count = async (): Promise<number> =>
    (await pool.query<{ n: number }>('select count(*)::int as n from outbox_event')).rows[0]!.n;
  /** The catch-all consumer's delivery statuses, in commit order. */
  const deliveries = async (): Promise<string[]> =>
    (
      await pool.query<{ status: string }>(
        'select status from integration_delivery order by position',
      )
    ).rows.map((r) => r.status);

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createIntegrationApp(db.url, { orm });
    publisher = t.app.get(DomainEventPublisher);
    pool = new Pool({ connectionString: db.url, max: 2 });
    // A consumer of every event, known before the processor's first batch announces it.
    registerCatchAll(t.app.get(EventSubscriberRegistry));
  });
  afterAll(async () => {
    await pool.end();
    await t.close();
    await db.drop();
  });
  beforeEach(async () => {
    // The consumer stays registered: this app announces it once.
    await pool.query('truncate outbox_event, integration_delivery, vault_ledger');
  });

  it('a rolled-back transaction leaves no event; a committed one leaves exactly its event', async () => {
    await expect(
      inTransaction(t.orm, async (tx) => {
        await publisher.publish(tx, event());
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    expect(await count()).toBe(0);

    const id = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, event({ aggregateId: 'v-2' })),
    );
    const { rows } = await pool.query(
      'select id::text, event_name, aggregate_id, payload, ordering_key from outbox_event',
    );
    expect(rows).toEqual([
      {
        id,
        event_name: 'vault.opened',
        aggregate_id: 'v-2',
        payload: { owner: 'alice' },
        ordering_key: 'Vault:v-2',
      },
    ]);
    // Committed and waiting for the sequencer: no delivery exists yet.
    expect((await t.app.get(IntegrationAdminService).getStats()).unsequenced).toBe(1);
    expect(await deliveries()).toEqual([]);
  });

  it('an uncommitted event is invisible to the processor', async () => {
    const processor = t.app.get(OutboxProcessor);
    await inTransaction(t.orm, async (tx) => {
      await publisher.publish(tx, event());
      const result = await processor.processBatch();
      expect(result.claimed).toBe(0);
      // Not even fanned out: the sequencer does not see an open transaction's event.
      expect(await deliveries()).toEqual([]);
    });
    expect(await processor.processBatch()).toMatchObject({ claimed: 1, processed: 1 });
    expect(await deliveries()).toEqual(['processed']);
  });

  it('publishes with the business write in the same transaction', async () => {
    await inTransaction(t.orm, async (tx) => {
      // A business write through the same handle, then the event.
      const sql =
        'insert into vault_ledger (owner_id, currency, balance_minor) values ($1, $2, 10)';
      if (t.orm.kind === 'prisma')
        await (
          tx as { $executeRawUnsafe: (q: string, ...v: unknown[]) => Promise<number> }
        ).$executeRawUnsafe(sql, 'alice', 'EUR');
      else if (t.orm.kind === 'knex')
        await (tx as { raw: (q: string, b: unknown[]) => Promise<unknown> }).raw(
          sql.replace('$1', '?').replace('$2', '?'),
          ['alice', 'EUR'],
        );
      else await (tx as Client).query(sql, ['alice', 'EUR']);
      await publisher.publish(tx, event());
    });
    expect(await count()).toBe(1);
    expect((await pool.query('select count(*)::int as n from vault_ledger')).rows[0].n).toBe(1);
  });

  it('publishMany stores all events in input order and returns their ids', async () => {
    const ids = await inTransaction(t.orm, (tx) =>
      publisher.publishMany(
        tx,
        [1, 2, 3].map((i) => event({ aggregateId: `v-${i}`, payload: { i } })),
      ),
    );
    const { rows } = await pool.query<{ id: string; payload: { i: number } }>(
      'select id::text, payload from outbox_event order by seq',
    );
    expect(rows.map((r) => r.id)).toEqual(ids);
    expect(rows.map((r) => r.payload.i)).toEqual([1, 2, 3]);
  });

  it('stores every field of one event alike through publish and through publishMany', async () => {
    // publish sends one parameter per column, publishMany one JSON array: the rows must match.
    const full = (aggregateId: string): PublishEventInput =>
      event({
        aggregateId,
        payload: { owner: 'alice', nested: { n: 1, s: 'é"\\' } },
        version: 3,
        sourceModule: 'vaults',
        tenantId: 'tenant-1',
        correlationId: 'corr-1',
        causationId: 'cause-1',
        idempotencyKey: `op-${aggregateId}`,
        orderingKey: 'key-1',
        availableAt: new Date('2030-01-02T03:04:05.678Z'),
        headers: { 'x-origin': 'test' },
      });
    const [one, [many]] = await inTransaction(t.orm, async (tx) => [
      await publisher.publish(tx, full('v-one')),
      await publisher.publishMany(tx, [full('v-many'), event({ aggregateId: 'v-other' })]),
    ]);
    const { rows } = await pool.query(
      `select id::text, event_name, event_version, source_module, aggregate_type, aggregate_id,
              ordering_key, payload, headers, tenant_id, correlation_id, causation_id,
              idempotency_key, available_at
         from outbox_event where id = any($1::uuid[]) order by seq`,
      [[one, many]],
    );
    const common = {
      event_name: 'vault.opened',
      event_version: 3,
      source_module: 'vaults',
      aggregate_type: 'Vault',
      ordering_key: 'key-1',
      payload: { owner: 'alice', nested: { n: 1, s: 'é"\\' } },
      tenant_id: 'tenant-1',
      correlation_id: 'corr-1',
      causation_id: 'cause-1',
      available_at: new Date('2030-01-02T03:04:05.678Z'),
      headers: { 'x-origin': 'test', correlationId: 'corr-1', causationId: 'cause-1' },
    };
    expect(rows).toEqual([
      { ...common, id: one, aggregate_id: 'v-one', idempotency_key: 'op-v-one' },
      { ...common, id: many, aggregate_id: 'v-many', idempotency_key: 'op-v-many' },
    ]);
  });

  it('the same idempotency key twice in one transaction stores one event and keeps the transaction usable', async () => {
    const [a, b, after] = await inTransaction(t.orm, async (tx) => {
      const first = await publisher.publish(tx, event({ idempotencyKey: 'op-1' }));
      const second = await publisher.publish(
        tx,
        event({ idempotencyKey: 'op-1', payload: { other: true } }),
      );
      // Still usable: a later statement in the same transaction succeeds.
      const third = await publisher.publish(tx, event({ idempotencyKey: 'op-2' }));
      return [first, second, third];
    });
    expect(b).toBe(a);
    expect(after).not.toBe(a);
    expect(await count()).toBe(2);
  });

  it('the same idempotency key across transactions (and within one publishMany) returns the first id', async () => {
    const first = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, event({ idempotencyKey: 'op-x' })),
    );
    const [again, fresh, dup] = await inTransaction(t.orm, (tx) =>
      publisher.publishMany(tx, [
        event({ idempotencyKey: 'op-x' }),
        event({ idempotencyKey: 'op-y' }),
        event({ idempotencyKey: 'op-y' }),
      ]),
    );
    expect(again).toBe(first);
    expect(dup).toBe(fresh);
    expect(await count()).toBe(2);
  });

  it('idempotency keys are scoped per tenant', async () => {
    const [a, b] = await inTransaction(t.orm, (tx) =>
      publisher.publishMany(tx, [
        event({ idempotencyKey: 'k', tenantId: 't1' }),
        event({ idempotencyKey: 'k', tenantId: 't2' }),
      ]),
    );
    expect(a).not.toBe(b);
    expect(await count()).toBe(2);
  });

  it('throws TransactionRequiredError for anything that is not a transaction handle', async () => {
    const notTx: unknown[] = [undefined, null, {}, 'tx', t.orm.prisma ?? t.orm.knex ?? t.orm.pool];
    for (const handle of notTx) {
      await expect(publisher.publish(handle, event())).rejects.toBeInstanceOf(
        TransactionRequiredError,
      );
    }
    expect(await count()).toBe(0);
  });

  it('publishStandalone writes outside any business transaction', async () => {
    const id = await publisher.publishStandalone(event());
    expect((await pool.query('select id::text from outbox_event')).rows).toEqual([{ id }]);
  });
});

describe('publisher input validation (pg)', () => {
  let db: TestDatabase;
  let t: IntegrationTestApp;
  let publisher: DomainEventPublisher;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Every publish notifies (windowMs 0): with the default window, the committed publish of the
    // NOTIFY test could fall in the window the rolled-back one opened and send none.
    t = await createIntegrationApp(db.url, { orm: 'pg', integration: { notify: { windowMs: 0 } } });
    publisher = t.app.get(DomainEventPublisher);
    pool = new Pool({ connectionString: db.url, max: 2 });
    // Existing data that bad input must never touch.
    await publisher.publishStandalone(event({ aggregateId: 'kept', payload: { keep: true } }));
  });
  afterAll(async () => {
    await pool.end();
    await t.close();
    await db.drop();
  });

  const rows = async (): Promise<unknown[]> =>
    (await pool.query('select aggregate_id, payload from outbox_event order by seq')).rows;

  const rejects = async (
    input: unknown,
    type: new (...args: never[]) => Error,
    field?: string,
  ): Promise<void> => {
    let caught: unknown;
    await inTransaction(t.orm, async (tx) => {
      caught = await publisher.publish(tx, input as PublishEventInput).catch((e: unknown) => e);
      // The caller's transaction is still usable after a validation error (no SQL ran).
      await (tx as Client).query('select 1');
    });
    expect(caught).toBeInstanceOf(type);
    if (field) expect((caught as InvalidEventError).field).toBe(field);
  };

  it.each([
    ['', 'empty'],
    ['Vault.Opened', 'uppercase'],
    ['vault', 'single segment'],
    ['vault..opened', 'empty segment'],
    ['vault.opened ', 'trailing space'],
    ["vault.opened'; drop table outbox_event; --", 'SQL'],
    ['1vault.opened', 'leading digit'],
    ['vault.*', 'wildcard'],
  ])('rejects the event name %j (%s)', async (name) => {
    await rejects(event({ name }), InvalidEventError, 'name');
  });

  it('rejects missing or bad aggregate ids and types', async () => {
    await rejects(event({ aggregateId: '' }), InvalidEventError, 'aggregateId');
    await rejects(event({ aggregateId: '   ' }), InvalidEventError, 'aggregateId');
    await rejects(event({ aggregateId: 'x'.repeat(201) }), InvalidEventError, 'aggregateId');
    await rejects(
      event({ aggregateId: undefined as unknown as string }),
      InvalidEventError,
      'aggregateId',
    );
    await rejects(event({ aggregateType: '' }), InvalidEventError, 'aggregateType');
    await rejects(event({ tenantId: 'a\u0000b' }), InvalidEventError, 'tenantId');
  });

  it('rejects payloads that are not JSON-serialisable, naming the path', async () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    await rejects(event({ payload: { amount: 10n } }), InvalidEventError, 'payload.amount');
    await rejects(event({ payload: cyclic }), InvalidEventError, 'payload.self');
    await rejects(event({ payload: { f: () => 1 } }), InvalidEventError, 'payload.f');
    await rejects(event({ payload: { s: Symbol('x') } }), InvalidEventError, 'payload.s');
    await rejects(event({ payload: [1, undefined] }), InvalidEventError, 'payload[1]');
    await rejects(event({ payload: { n: NaN } }), InvalidEventError, 'payload.n');
    await rejects(event({ payload: { m: new Map() } }), InvalidEventError, 'payload.m');
    await rejects(event({ payload: { s: 'nul\u0000byte' } }), InvalidEventError, 'payload.s');
    await rejects(
      event({ payload: { s: 'lone \ud800 surrogate' } }),
      InvalidEventError,
      'payload.s',
    );
    await rejects(event({ payload: undefined }), InvalidEventError, 'payload');
    await rejects(event({ payload: { ['k\u0000']: 1 } }), InvalidEventError);
    await rejects(
      { name: 'vault.opened', aggregateType: 'Vault', aggregateId: 'v' },
      InvalidEventError,
      'payload',
    );
  });

  it('rejects a 300 KiB payload with PayloadTooLargeError', async () => {
    await rejects(event({ payload: { blob: 'x'.repeat(300 * 1024) } }), PayloadTooLargeError);
  });

  it('rejects bad headers, versions and dates', async () => {
    await rejects(
      event({ headers: { actor: 5 as unknown as string } }),
      InvalidEventError,
      'headers.actor',
    );
    await rejects(event({ version: 0 }), InvalidEventError, 'version');
    await rejects(event({ availableAt: new Date('nope') }), InvalidEventError, 'availableAt');
    await rejects(null, InvalidEventError, 'event');
  });

  it('publishMany with one bad event writes nothing', async () => {
    await expect(
      inTransaction(t.orm, (tx) =>
        publisher.publishMany(tx, [event({ aggregateId: 'a' }), event({ name: 'Bad' }), event()]),
      ),
    ).rejects.toMatchObject({ name: 'InvalidEventError', index: 1 });
    expect(await rows()).toEqual([{ aggregate_id: 'kept', payload: { keep: true } }]);
  });

  it('stores SQL-looking strings, unicode and emoji verbatim in every text field', async () => {
    const hostile = `'); DELETE FROM outbox_event; -- $1 ? :name \\ "quoted"`;
    const id = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, {
        name: 'audit.hostile-input',
        aggregateType: hostile,
        aggregateId: `${hostile} 🔐 Ünïcødé 漢字`,
        sourceModule: hostile,
        tenantId: hostile,
        correlationId: hostile,
        causationId: hostile,
        idempotencyKey: hostile,
        orderingKey: hostile,
        headers: { actor: hostile, [hostile]: 'x' },
        payload: { text: hostile, nested: [{ emoji: '🔐', rtl: 'שלום' }], date: new Date(0) },
      }),
    );
    const { rows: stored } = await pool.query('select * from outbox_event where id = $1', [id]);
    expect(stored[0]).toMatchObject({
      aggregate_type: hostile,
      aggregate_id: `${hostile} 🔐 Ünïcødé 漢字`,
      source_module: hostile,
      tenant_id: hostile,
      correlation_id: hostile,
      causation_id: hostile,
      idempotency_key: hostile,
      ordering_key: hostile,
      headers: { actor: hostile, [hostile]: 'x', correlationId: hostile, causationId: hostile },
      payload: {
        text: hostile,
        nested: [{ emoji: '🔐', rtl: 'שלום' }],
        date: '1970-01-01T00:00:00.000Z',
      },
    });
    expect((await pool.query('select count(*)::int as n from outbox_event')).rows[0].n).toBe(2);
  });

  it('NOTIFY is delivered on commit only', async () => {
    const listener = new Client({ connectionString: db.url });
    await listener.connect();
    const received: string[] = [];
    listener.on('notification', (n) => received.push(n.channel));
    await listener.query('LISTEN integration_outbox');
    try {
      await expect(
        inTransaction(t.orm, async (tx) => {
          await publisher.publish(tx, event({ aggregateId: 'rolled-back' }));
          throw new Error('rollback');
        }),
      ).rejects.toThrow('rollback');
      await listener.query('select 1'); // flushes any notification already sent
      expect(received).toEqual([]);
      await inTransaction(t.orm, (tx) =>
        publisher.publish(tx, event({ aggregateId: 'committed' })),
      );
      await listener.query('select 1');
      expect(received).toEqual(['integration_outbox']);
    } finally {
      await listener.end();
    }
  });
});

describe.each([
  ['pipelined', true],
  ['plain', false],
])('publishAndCommit on a %s pg pool', (_label, pipeline) => {
  let db: TestDatabase;
  let t: IntegrationTestApp;
  let publisher: DomainEventPublisher;
  let pool: Pool;

  const rows = async (): Promise<{ orders: string[]; events: string[] }> => ({
    orders: (await pool.query<{ note: string }>('select note from pc_order order by id')).rows.map(
      (r) => r.note,
    ),
    events: (
      await pool.query<{ aggregate_id: string }>(
        'select aggregate_id from outbox_event order by seq',
      )
    ).rows.map((r) => r.aggregate_id),
  });

  /** BEGIN, one business row, then `fn`; the client is returned to the pool afterwards. */
  const business = async <T>(
    note: string,
    fn: (client: PoolClient) => Promise<T>,
  ): Promise<{ result: T; status: string | null }> => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('insert into pc_order (note) values ($1)', [note]);
      const result = await fn(client);
      await client.query('select 1'); // the status is that of the last ReadyForQuery read
      return { result, status: client.getTransactionStatus() };
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 3, pipeline });
    t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: { database: pgAdapter(pool) },
    });
    publisher = t.app.get(DomainEventPublisher);
    await pool.query(`create table pc_order (id serial primary key, note text not null,
      code text unique deferrable initially deferred)`);
    // Lets a test make the outbox INSERT itself fail.
    await pool.query(`create function pc_refuse() returns trigger language plpgsql as $$
      begin if new.aggregate_id = 'refused' then raise exception 'outbox refuses %', new.aggregate_id; end if;
      return new; end $$`);
    await pool.query(
      'create trigger pc_refuse before insert on outbox_event for each row execute function pc_refuse()',
    );
  });
  afterAll(async () => {
    await t.close();
    await pool.end();
    await db.drop();
  });
  beforeEach(async () => {
    await pool.query('truncate outbox_event, pc_order');
  });

  it('commits the business write and the event together, leaving the client idle', async () => {
    const { result: id, status } = await business('one', (client) =>
      publisher.publishAndCommit(client, event({ aggregateId: 'one' })),
    );
    expect(status).toBe('I');
    expect(await rows()).toEqual({ orders: ['one'], events: ['one'] });
    const stored = await pool.query('select id::text as id from outbox_event');
    expect(stored.rows).toEqual([{ id }]);
    // Committed: the sequencer sees it (and would fan it out at its next run).
    expect((await t.app.get(IntegrationAdminService).getStats()).unsequenced).toBe(1);
  });

  it('invalid input throws before anything is sent; the transaction is still open', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('insert into pc_order (note) values ($1)', ['kept open']);
      await expect(
        publisher.publishManyAndCommit(client, [event(), event({ name: 'Not A Name' })]),
      ).rejects.toThrow(InvalidEventError);
      expect(client.getTransactionStatus()).toBe('T');
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    expect(await rows()).toEqual({ orders: [], events: [] });
  });

  it('a failing outbox INSERT rolls everything back and throws its error', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('insert into pc_order (note) values ($1)', ['refused']);
      await expect(
        publisher.publishAndCommit(client, event({ aggregateId: 'refused' })),
      ).rejects.toThrow('outbox refuses refused');
      await client.query('select 1');
      expect(client.getTransactionStatus()).toBe('I');
      // The client is usable, and the caller's customary ROLLBACK is harmless.
      await client.query('ROLLBACK');
      expect((await client.query('select 1 as ok')).rows).toEqual([{ ok: 1 }]);
    } finally {
      client.release();
    }
    expect(await rows()).toEqual({ orders: [], events: [] });
  });

  it('a failing COMMIT (deferred constraint) throws, and neither write is kept', async () => {
    await pool.query("insert into pc_order (note, code) values ('first', 'C1')");
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query("insert into pc_order (note, code) values ('second', 'C1')");
      await expect(
        publisher.publishAndCommit(client, event({ aggregateId: 'second' })),
      ).rejects.toThrow(/duplicate key value violates unique constraint/);
      await client.query('select 1');
      expect(client.getTransactionStatus()).toBe('I');
    } finally {
      client.release();
    }
    expect(await rows()).toEqual({ orders: ['first'], events: [] });
  });

  it('a transaction that had already failed commits nothing', async () => {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('insert into pc_order (note) values ($1)', ['doomed']);
      await expect(client.query('select 1/0')).rejects.toThrow('division by zero');
      // Refused up front once the client has seen the failed state (TransactionRequiredError),
      // or by PostgreSQL if its ReadyForQuery has not been read yet: either way, an error.
      await expect(publisher.publishAndCommit(client, event())).rejects.toThrow(
        /needs a transaction|current transaction is aborted|COMMIT was answered with ROLLBACK/,
      );
      await client.query('ROLLBACK');
    } finally {
      client.release();
    }
    await expect(publisher.publishAndCommit(pool, event())).rejects.toThrow(
      TransactionRequiredError,
    );
    expect(await rows()).toEqual({ orders: [], events: [] });
  });

  it('returns existing ids for idempotency keys already published, read after the commit', async () => {
    const first = await business('a', (client) =>
      publisher.publishAndCommit(client, event({ aggregateId: 'a', idempotencyKey: 'k-1' })),
    );
    const again = await business('b', (client) =>
      publisher.publishManyAndCommit(client, [
        event({ aggregateId: 'b', idempotencyKey: 'k-1' }),
        event({ aggregateId: 'c', idempotencyKey: 'k-2' }),
        event({ aggregateId: 'd', idempotencyKey: 'k-2' }),
      ]),
    );
    expect(again.result[0]).toBe(first.result);
    expect(again.result[2]).toBe(again.result[1]);
    expect(await rows()).toEqual({ orders: ['a', 'b'], events: ['a', 'c'] });
  });

  it('more events than one INSERT takes: earlier chunks first, the last with the COMMIT', async () => {
    const events = Array.from({ length: PUBLISH_CHUNK_SIZE + 5 }, (_, i) =>
      event({ aggregateId: `bulk-${i}` }),
    );
    const { result: ids } = await business('bulk', (client) =>
      publisher.publishManyAndCommit(client, events),
    );
    expect(new Set(ids).size).toBe(events.length);
    const stored = await pool.query<{ n: number }>('select count(*)::int as n from outbox_event');
    expect(stored.rows[0]!.n).toBe(events.length);
    // No events: it just commits.
    const { result: none, status } = await business('empty', (client) =>
      publisher.publishManyAndCommit(client, []),
    );
    expect(none).toEqual([]);
    expect(status).toBe('I');
    expect((await rows()).orders).toEqual(['bulk', 'empty']);
  });
});

describe.each<OrmKind>(['prisma', 'knex'])('publishAndCommit with %s', (orm) => {
  let db: TestDatabase;
  let t: IntegrationTestApp;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createIntegrationApp(db.url, { orm });
  });
  afterAll(async () => {
    await t.close();
    await db.drop();
  });

  it('refuses with CommitNotSupportedError, writing nothing and leaving the transaction usable', async () => {
    const publisher = t.app.get(DomainEventPublisher);
    const ids = await inTransaction(t.orm, async (tx) => {
      await expect(publisher.publishAndCommit(tx, event())).rejects.toThrow(
        CommitNotSupportedError,
      );
      await expect(publisher.publishAndCommit(tx, event())).rejects.toThrow(
        `${orm} commits its transaction when your callback returns`,
      );
      return publisher.publishMany(tx, [event({ aggregateId: 'after' })]);
    });
    expect(ids).toHaveLength(1);
    await withPool(db.url, async (pool) => {
      const stored = await pool.query('select aggregate_id from outbox_event');
      expect(stored.rows).toEqual([{ aggregate_id: 'after' }]);
    });
  });
});
