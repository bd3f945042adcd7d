import { Pool } from 'pg';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  InvalidEventError,
  JitterMode,
  OutboxProcessor,
  PayloadTooLargeError,
  type IntegrationEvent,
  type PublishEventInput,
} from '../../src/integration';
import { normalizeEvent } from '../../src/integration/events/event-validation';
import { MAX_JSON_DEPTH, jsonbNumberLength } from '../../src/integration/events/json-serializer';
import {
  createIntegrationApp,
  inTransaction,
  type IntegrationTestApp,
  type OrmKind,
  registerCatchAll,
} from '../support/integration-app';
import { execIn } from '../support/orm-sql';
import { createTestDatabase, type TestDatabase } from '../support/test-database';

const event = (over: Partial<PublishEventInput> = {}): PublishEventInput => ({
  name: 'vault.opened',
  aggregateType: 'Vault',
  aggregateId: 'v-1',
  payload: { owner: 'alice' },
  ...over,
});

const DEFAULT_MAX_PAYLOAD_BYTES = 256 * 1024;

/** A value whose property `key` returns `first` on the first read and `later` afterwards. */
const changingGetter = (key: string, first: unknown, later: unknown): Record<string, unknown> => {
  let reads = 0;
  return Object.defineProperty({}, key, {
    enumerable: true,
    get: () => (reads++ === 0 ? first : later),
  }) as Record<string, unknown>;
};

/** `depth` nested arrays (or objects) around a 1. */
const nested = (depth: number, kind: 'array' | 'object'): unknown => {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = kind === 'array' ? [value] : { a: value };
  return value;
};

/** A Date whose `toJSON` (or `toISOString`) answers differently from the second call on. */
const dateWith = (method: 'toJSON' | 'toISOString', later: string, at = 0): Date => {
  const date = new Date(at);
  let calls = 0;
  Object.defineProperty(date, method, {
    value: () => (calls++ === 0 ? '2020-01-01T00:00:00.000Z' : later),
  });
  return date;
};

describe.each<OrmKind>(['prisma', 'knex', 'pg'])(
  'publish refuses what PostgreSQL would refuse, keeping the transaction usable, with %s',
  (orm) => {
    let db: TestDatabase;
    let t: IntegrationTestApp;
    let publisher: DomainEventPublisher;
    let pool: Pool;

    beforeAll(async () => {
      db = await createTestDatabase();
      t = await createIntegrationApp(db.url, { orm });
      publisher = t.app.get(DomainEventPublisher);
      pool = new Pool({ connectionString: db.url, max: 2 });
    });
    afterAll(async () => {
      await pool.end();
      await t.close();
      await db.drop();
    });
    beforeEach(async () => {
      await pool.query('truncate outbox_event, vault_ledger');
    });

    const ledgerOwners = async (): Promise<string[]> =>
      (
        await pool.query<{ owner_id: string }>('select owner_id from vault_ledger order by 1')
      ).rows.map((r) => r.owner_id);
    const writeLedger = (tx: unknown, owner: string): Promise<void> =>
      execIn(
        orm,
        tx,
        'insert into vault_ledger (owner_id, currency, balance_minor) values ($1, $2, 10)',
        [owner, 'EUR'],
      );

    /**
     * Publishes `input` between two business writes of one transaction: the publish must throw
     * `InvalidEventError` on `field`, and both writes must commit.
     */
    const refusedKeepingTransaction = async (input: PublishEventInput, field: string) => {
      let caught: unknown;
      await inTransaction(t.orm, async (tx) => {
        await writeLedger(tx, 'before');
        caught = await publisher.publish(tx, input).catch((e: unknown) => e);
        await writeLedger(tx, 'after');
      });
      expect(caught).toBeInstanceOf(InvalidEventError);
      expect((caught as InvalidEventError).field).toBe(field);
      expect(await ledgerOwners()).toEqual(['after', 'before']);
      expect((await pool.query('select count(*)::int as n from outbox_event')).rows[0].n).toBe(0);
      await pool.query('truncate vault_ledger');
    };

    it.each([
      ['year 10000', new Date('+010000-01-01T00:00:00.000Z')],
      ['the first instant after year 9999', new Date(Date.parse('9999-12-31T23:59:59.999Z') + 1)],
      ['year 0', new Date('0000-06-01T00:00:00.000Z')],
      ['year -1', new Date('-000001-01-01T00:00:00.000Z')],
    ])('refuses availableAt in %s (hardening #7)', async (_what, availableAt) => {
      await refusedKeepingTransaction(event({ availableAt }), 'availableAt');
    });

    it('stores availableAt at both ends of years 1..9999 (hardening #7)', async () => {
      const first = new Date('0001-01-01T00:00:00.000Z');
      const last = new Date('9999-12-31T23:59:59.999Z');
      await inTransaction(t.orm, (tx) =>
        publisher.publishMany(tx, [
          event({ aggregateId: 'first', availableAt: first }),
          event({ aggregateId: 'last', availableAt: last }),
        ]),
      );
      const { rows } = await pool.query<{ aggregate_id: string; at: string }>(
        `select aggregate_id, to_char(available_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') as at
           from outbox_event order by seq`,
      );
      expect(rows).toEqual([
        { aggregate_id: 'first', at: '0001-01-01T00:00:00.000' },
        { aggregate_id: 'last', at: '9999-12-31T23:59:59.999' },
      ]);
    });

    it('refuses a Date with its own toJSON that answers a NUL on the second call (hardening #7)', async () => {
      await refusedKeepingTransaction(
        event({ payload: { at: dateWith('toJSON', 'bad\u0000') } }),
        'payload.at',
      );
    });

    it('refuses an array with its own toJSON that answers a lone surrogate on the second call (hardening #7)', async () => {
      const list = ['ok'];
      let calls = 0;
      Object.defineProperty(list, 'toJSON', {
        value: () => (calls++ === 0 ? ['ok'] : ['\ud800']),
      });
      await refusedKeepingTransaction(event({ payload: { list } }), 'payload.list');
    });

    it('a getter that answers a NUL or a lone surrogate on a second read stores its first answer (hardening #7)', async () => {
      const payload = {
        nul: changingGetter('s', 'first', 'bad\u0000'),
        lone: changingGetter('s', 'first', '\udfff'),
      };
      const headers = changingGetter('actor', 'alice', 'bad\u0000') as Record<string, string>;
      const id = await inTransaction(t.orm, async (tx) => {
        await writeLedger(tx, 'before');
        const published = await publisher.publish(tx, event({ payload, headers }));
        await writeLedger(tx, 'after');
        return published;
      });
      const { rows } = await pool.query('select payload, headers from outbox_event where id = $1', [
        id,
      ]);
      expect(rows).toEqual([
        { payload: { nul: { s: 'first' }, lone: { s: 'first' } }, headers: { actor: 'alice' } },
      ]);
      expect(await ledgerOwners()).toEqual(['after', 'before']);
    });

    it('a getter that answers a NUL on the first read is refused (hardening #7)', async () => {
      await refusedKeepingTransaction(
        event({ payload: changingGetter('s', 'bad\u0000', 'fine') }),
        'payload.s',
      );
    });

    it('stores availableAt from the Date itself, not from an overridden toISOString (hardening #7)', async () => {
      const at = dateWith('toISOString', '+010000-01-01T00:00:00.000Z', Date.UTC(2030, 0, 1));
      await inTransaction(t.orm, (tx) => publisher.publish(tx, event({ availableAt: at })));
      const { rows } = await pool.query<{ ms: string }>(
        'select (extract(epoch from available_at) * 1000)::bigint::text as ms from outbox_event',
      );
      expect(rows).toEqual([{ ms: String(Date.UTC(2030, 0, 1)) }]);
    });

    it.each(['array', 'object'] as const)(
      'refuses a payload of 5,000 nested %ss with InvalidEventError, not RangeError (hardening #9)',
      async (kind) => {
        await refusedKeepingTransaction(
          event({ payload: { deep: nested(5_000, kind) } }),
          // The payload is level 1, `deep` level 2: the path names the first level over the limit.
          kind === 'array'
            ? `payload.deep${'[0]'.repeat(MAX_JSON_DEPTH - 1)}`
            : `payload.deep${'.a'.repeat(MAX_JSON_DEPTH - 1)}`,
        );
      },
    );

    it.each([
      ['NaN', Number.NaN],
      ['Infinity', Number.POSITIVE_INFINITY],
      ['-Infinity', Number.NEGATIVE_INFINITY],
    ])('refuses aggregateId %s (hardening #9)', async (_what, aggregateId) => {
      await refusedKeepingTransaction(
        event({ aggregateId: aggregateId as unknown as string }),
        'aggregateId',
      );
    });
  },
);

describe('publish: headers, nesting and stored size (pg)', () => {
  let db: TestDatabase;
  let t: IntegrationTestApp;
  let publisher: DomainEventPublisher;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    t = await createIntegrationApp(db.url, { orm: 'pg' });
    publisher = t.app.get(DomainEventPublisher);
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool.end();
    await t.close();
    await db.drop();
  });
  beforeEach(async () => {
    await pool.query(
      'truncate outbox_event, integration_delivery, integration_consumer, integration_consumer_host',
    );
  });

  const refusal = async (input: PublishEventInput): Promise<unknown> =>
    inTransaction(t.orm, async (tx) => {
      const caught = await publisher.publish(tx, input).catch((e: unknown) => e);
      await execIn('pg', tx, 'select 1');
      return caught;
    });

  it('publishMany refuses a non-array with InvalidEventError, keeping the transaction usable', async () => {
    const caught = await inTransaction(t.orm, async (tx) => {
      const error = await publisher
        .publishMany(tx, event() as unknown as PublishEventInput[])
        .catch((e: unknown) => e);
      await execIn('pg', tx, 'select 1');
      return error;
    });
    expect(caught).toBeInstanceOf(InvalidEventError);
    expect((caught as InvalidEventError).field).toBe('events');
  });

  it('accepts a finite number as aggregateId, stored as its string (hardening #9)', async () => {
    const id = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, event({ aggregateId: 42 as unknown as string })),
    );
    const { rows } = await pool.query('select aggregate_id from outbox_event where id = $1', [id]);
    expect(rows).toEqual([{ aggregate_id: '42' }]);
  });

  class Headers {
    actor = 'alice';
  }
  it.each<[string, unknown]>([
    ['a Map', new Map([['actor', 'alice']])],
    ['a Date', new Date(0)],
    ['an array', ['alice']],
    ['a class instance', new Headers()],
    ['a string', 'actor=alice'],
  ])('refuses %s as headers (hardening #9)', async (_what, headers) => {
    const caught = await refusal(event({ headers: headers as Record<string, string> }));
    expect(caught).toBeInstanceOf(InvalidEventError);
    expect((caught as InvalidEventError).field).toBe('headers');
  });

  it('keeps a header named __proto__, in the row and in what handlers receive (hardening #9)', async () => {
    const headers = JSON.parse('{"__proto__":"proto-value","actor":"alice"}') as Record<
      string,
      string
    >;
    const id = await inTransaction(t.orm, (tx) =>
      publisher.publish(tx, event({ headers, correlationId: 'c-1' })),
    );
    const { rows } = await pool.query<{ h: string }>(
      "select headers->>'__proto__' as h from outbox_event where id = $1",
      [id],
    );
    expect(rows).toEqual([{ h: 'proto-value' }]);

    const seen: IntegrationEvent[] = [];
    const processing = await createIntegrationApp(db.url, { orm: 'pg' });
    registerCatchAll(processing.app.get(EventSubscriberRegistry), async (e) => void seen.push(e));
    try {
      expect(await processing.app.get(OutboxProcessor).processBatch()).toMatchObject({
        processed: 1,
      });
    } finally {
      await processing.close();
    }
    expect(Object.getOwnPropertyDescriptor(seen[0]!.headers, '__proto__')?.value).toBe(
      'proto-value',
    );
    expect({ ...seen[0]!.headers }).toMatchObject({ actor: 'alice', correlationId: 'c-1' });
  });

  it('computes the size of numbers exactly as PostgreSQL jsonb prints them (hardening #9)', async () => {
    const numbers = [
      1e308,
      -1.7976931348623157e308,
      1e-300,
      123.456e10,
      -0,
      5e-324,
      -5e-324,
      1e21,
      1.5e-7,
      1e-7,
      123456.789,
      0.1,
      42,
      -17,
      2 ** 53 + 2,
      1.2345e25,
    ];
    const { rows } = await pool.query<{ n: number }>(
      'select octet_length((j.value)::text) as n from jsonb_array_elements($1::jsonb) with ordinality as j(value, i) order by i',
      [JSON.stringify(numbers)],
    );
    expect(numbers.map(jsonbNumberLength)).toEqual(rows.map((r) => r.n));
  });

  it('the computed stored size of a mixed payload is what PostgreSQL returns (hardening #9)', async () => {
    const payload = {
      big: [1e308, 5e-324, -0, { nested: [1e21, 'x', true, null, {}, []] }],
      text: 'quote " backslash \\ newline \n tab \t control \u0001 emoji 🔐 漢字',
      '': { 'key with "quote"': false },
    };
    const settings = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, defaultSourceModule: null };
    const json = normalizeEvent(event({ payload }), settings).payloadJson;
    const id = await inTransaction(t.orm, (tx) => publisher.publish(tx, event({ payload })));
    const { rows } = await pool.query<{ n: number }>(
      'select octet_length(payload::text) as n from outbox_event where id = $1',
      [id],
    );
    // One byte under the exact stored size is refused, the exact size is accepted.
    expect(() =>
      normalizeEvent(event({ payload }), { ...settings, maxPayloadBytes: rows[0]!.n - 1 }),
    ).toThrow(PayloadTooLargeError);
    expect(
      normalizeEvent(event({ payload }), { ...settings, maxPayloadBytes: rows[0]!.n }).payloadJson,
    ).toBe(json);
  });

  it('refuses 259 KB of 1e308 numbers under the default limit (hardening #9)', async () => {
    const payload = Array.from({ length: 37_000 }, () => 1e308);
    expect(Buffer.byteLength(JSON.stringify(payload))).toBeGreaterThan(258_000);
    expect(Buffer.byteLength(JSON.stringify(payload))).toBeLessThan(DEFAULT_MAX_PAYLOAD_BYTES);
    const caught = await refusal(event({ payload }));
    expect(caught).toBeInstanceOf(PayloadTooLargeError);
    expect((caught as PayloadTooLargeError).sizeBytes).toBeGreaterThan(11_000_000);
  });

  it('a payload of 1e308 numbers just under the limit is stored at most that large (hardening #9)', async () => {
    // Each 1e308 is 309 digits in jsonb, and ", " separates them: 311 bytes per element.
    const fits = Math.floor(DEFAULT_MAX_PAYLOAD_BYTES / 311);
    const payload = Array.from({ length: fits }, () => 1e308);
    const id = await inTransaction(t.orm, (tx) => publisher.publish(tx, event({ payload })));
    const { rows } = await pool.query<{ n: number }>(
      'select octet_length(payload::text) as n from outbox_event where id = $1',
      [id],
    );
    expect(rows[0]!.n).toBeLessThanOrEqual(DEFAULT_MAX_PAYLOAD_BYTES);
    expect(rows[0]!.n).toBeGreaterThan(DEFAULT_MAX_PAYLOAD_BYTES - 311);
    expect(await refusal(event({ payload: [...payload, 1e308] }))).toBeInstanceOf(
      PayloadTooLargeError,
    );
  });
});

describe('default ordering key per tenant (pg, processor)', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it("tenant A's Order 1 waiting for a retry does not block tenant B's Order 1 (hardening #11)", async () => {
    const t = await createIntegrationApp(db.url, {
      orm: 'pg',
      integration: {
        processor: {
          retry: {
            baseDelayMs: 60_000,
            maxDelayMs: 60_000,
            maxAttempts: 5,
            jitter: JitterMode.None,
          },
        },
      },
    });
    // The consumer keeps the processor's retry policy (it declares none of its own).
    registerCatchAll(t.app.get(EventSubscriberRegistry), async (e) => {
      if (e.tenantId === 'tenant-a') throw new Error('tenant A downstream unavailable');
    });
    try {
      const publisher = t.app.get(DomainEventPublisher);
      const order = (tenantId: string): PublishEventInput => ({
        name: 'order.placed',
        aggregateType: 'Order',
        aggregateId: '1',
        tenantId,
        payload: { tenantId },
      });
      await inTransaction(t.orm, (tx) =>
        publisher.publishMany(tx, [order('tenant-a'), order('tenant-b')]),
      );
      const processor = t.app.get(OutboxProcessor);
      expect(await processor.processBatch()).toMatchObject({ retried: 1, processed: 1 });
      const { rows } = await pool.query(
        `select o.tenant_id, o.ordering_key, d.ordering_key as delivery_key, d.status, d.attempt_count,
                d.available_at > now() + interval '30 seconds' as waits
           from integration_delivery d join outbox_event o on o.id = d.event_id order by o.seq`,
      );
      expect(rows).toEqual([
        {
          tenant_id: 'tenant-a',
          ordering_key: '8:tenant-a:Order:1',
          delivery_key: '8:tenant-a:Order:1',
          status: 'pending',
          attempt_count: 1,
          waits: true,
        },
        {
          tenant_id: 'tenant-b',
          ordering_key: '8:tenant-b:Order:1',
          delivery_key: '8:tenant-b:Order:1',
          status: 'processed',
          attempt_count: 1,
          waits: false,
        },
      ]);
    } finally {
      await t.close();
    }
  });

  it('keys tenants apart whatever their ids contain; no tenant and explicit keys stay as given (hardening #11)', () => {
    const settings = { maxPayloadBytes: DEFAULT_MAX_PAYLOAD_BYTES, defaultSourceModule: null };
    const key = (over: Partial<PublishEventInput>): string =>
      normalizeEvent(event({ aggregateType: 'Order', aggregateId: '1', ...over }), settings)
        .orderingKey;
    expect(key({})).toBe('Order:1');
    expect(key({ tenantId: 'a:b', aggregateType: 'c' })).toBe('3:a:b:c:1');
    expect(key({ tenantId: 'a', aggregateType: 'b:c' })).toBe('1:a:b:c:1');
    expect(key({ tenantId: 'acme', orderingKey: 'customer-7' })).toBe('customer-7');
  });
});
