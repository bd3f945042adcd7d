import { Test, type TestingModule } from '@nestjs/testing';
import { Pool, type PoolClient } from 'pg';
import {
  IntegrationModule,
  InvalidLinkError,
  TransactionRequiredError,
  uuidv7,
  type SqlExecutor,
} from '../../src/integration';
import { IntegrationTables } from '../../src/integration/database/integration-tables';
import { IntegrationLinkRepository } from '../../src/integration/links/integration-link.repository';
import { IntegrationLinkService } from '../../src/integration/links/integration-link.service';
import {
  LinkType,
  type CreateLinkInput,
  type EntityRef,
  type IntegrationLink,
} from '../../src/integration/links/integration-link.types';
import {
  createOrm,
  inTransaction,
  type OrmClients,
  type OrmKind,
} from '../support/integration-app';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { gate, waitFor } from '../support/wait-for';

const ref = (module: string, entityType: string, entityId: string): EntityRef => ({
  module,
  entityType,
  entityId,
});

const vault1 = ref('vault', 'Vault', 'v-1');
const vault2 = ref('vault', 'Vault', 'v-2');
const ledger1 = ref('vault', 'Ledger', 'v-1'); // same module and id as vault1, other type
const invoice1 = ref('billing', 'Invoice', 'i-1');
const user1 = ref('users', 'User', 'u-1');

const input = (over: Partial<CreateLinkInput> = {}): CreateLinkInput => ({
  source: invoice1,
  target: vault1,
  linkType: LinkType.Reference,
  ...over,
});

const ids = (links: readonly IntegrationLink[]): string[] => links.map((l) => l.id);

/** A Nest testing module with IntegrationModule on `orm` plus the link providers. */
async function bootLinks(
  orm: OrmClients,
): Promise<{ moduleRef: TestingModule; links: IntegrationLinkService }> {
  const moduleRef = await Test.createTestingModule({
    imports: [IntegrationModule.forRoot({ database: orm.adapter, processor: { enabled: false } })],
    providers: [IntegrationLinkService, IntegrationLinkRepository],
  }).compile();
  await moduleRef.init();
  return { moduleRef, links: moduleRef.get(IntegrationLinkService) };
}

describe.each<OrmKind>(['prisma', 'knex', 'pg'])('IntegrationLinkService with %s', (kind) => {
  let db: TestDatabase;
  let orm: OrmClients;
  let moduleRef: TestingModule;
  let links: IntegrationLinkService;
  let pool: Pool;

  const count = async (): Promise<number> =>
    (await pool.query<{ n: number }>('select count(*)::int as n from integration_link')).rows[0]!.n;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = createOrm(kind, db.url);
    ({ moduleRef, links } = await bootLinks(orm));
    pool = new Pool({ connectionString: db.url, max: 3 });
  });
  afterAll(async () => {
    await pool.end();
    await moduleRef.close();
    await orm.close();
    await db.drop();
  });
  beforeEach(async () => {
    await pool.query('truncate integration_link');
  });

  it('stores a link with every column and reads it back identically', async () => {
    const link = await inTransaction(orm, (tx) =>
      links.link(tx, input({ metadata: { note: 'first', n: 1, at: new Date(0) }, tenantId: 't1' })),
    );
    expect(link).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-7/),
      source: invoice1,
      target: vault1,
      linkType: LinkType.Reference,
      metadata: { note: 'first', n: 1, at: '1970-01-01T00:00:00.000Z' },
      tenantId: 't1',
      createdAt: expect.any(Date),
      updatedAt: expect.any(Date),
    });
    const { rows } = await pool.query(
      `select id::text, source_module, source_entity_type, source_entity_id, target_module,
              target_entity_type, target_entity_id, link_type, metadata, tenant_id, created_at
         from integration_link`,
    );
    expect(rows).toEqual([
      {
        id: link.id,
        source_module: 'billing',
        source_entity_type: 'Invoice',
        source_entity_id: 'i-1',
        target_module: 'vault',
        target_entity_type: 'Vault',
        target_entity_id: 'v-1',
        link_type: 'reference',
        metadata: { note: 'first', n: 1, at: '1970-01-01T00:00:00.000Z' },
        tenant_id: 't1',
        created_at: link.createdAt,
      },
    ]);
  });

  it('creating the same link twice stores one row and returns the stored link both times', async () => {
    const first = await links.link(undefined, input({ metadata: { v: 1 } }));
    const again = await inTransaction(orm, (tx) => links.link(tx, input({ metadata: { v: 2 } })));
    const standalone = await links.link(null, input({ linkType: 'reference' }));
    expect(again).toEqual(first); // same id, and the stored metadata is kept
    expect(standalone).toEqual(first);
    expect(await count()).toBe(1);
    // Another type for the same pair is another link.
    const cascade = await links.link(undefined, input({ linkType: LinkType.Cascade }));
    expect(cascade.id).not.toBe(first.id);
    expect(await count()).toBe(2);
  });

  it('the same link twice inside one transaction: one row, same id, transaction still usable', async () => {
    const [a, b, other] = await inTransaction(orm, async (tx) => {
      const first = await links.link(tx, input());
      const second = await links.link(tx, input());
      // A later statement in the same transaction still succeeds (no error was raised).
      const third = await links.link(tx, input({ target: vault2 }));
      return [first, second, third];
    });
    expect(b.id).toBe(a.id);
    expect(other.id).not.toBe(a.id);
    expect(await count()).toBe(2);
  });

  it('concurrent creation in two transactions: the second waits, then returns the first id', async () => {
    const firstInserted = gate();
    const release = gate();
    const first = inTransaction(orm, async (tx) => {
      const link = await links.link(tx, input());
      firstInserted.open();
      await release.promise;
      return link;
    });
    await firstInserted.promise;
    const second = inTransaction(orm, (tx) => links.link(tx, input()));
    await waitForBlockedInsert(pool);
    release.open();
    const [a, b] = await Promise.all([first, second]);
    expect(b.id).toBe(a.id);
    expect(await count()).toBe(1);
  });

  it('concurrent creation where the first transaction rolls back: the second creates the link', async () => {
    const firstInserted = gate();
    const release = gate();
    const first = inTransaction(orm, async (tx) => {
      await links.link(tx, input());
      firstInserted.open();
      await release.promise;
      throw new Error('first rolls back');
    });
    await firstInserted.promise;
    const second = inTransaction(orm, (tx) => links.link(tx, input()));
    await waitForBlockedInsert(pool);
    release.open();
    await expect(first).rejects.toThrow('first rolls back');
    const created = await second;
    const { rows } = await pool.query('select id::text from integration_link');
    expect(rows).toEqual([{ id: created.id }]);
  });

  it('a link written in a transaction that rolls back disappears', async () => {
    await expect(
      inTransaction(orm, async (tx) => {
        const link = await links.link(tx, input());
        // Visible inside the transaction…
        expect(ids(await links.findOutbound(invoice1, tx))).toEqual([link.id]);
        throw new Error('business rule failed');
      }),
    ).rejects.toThrow('business rule failed');
    // …and gone after the rollback.
    expect(await count()).toBe(0);
    expect(await links.findOutbound(invoice1)).toEqual([]);
  });

  it('outbound, inbound, either-direction and by-type queries return exactly the right links in order', async () => {
    const a = await links.link(undefined, input({ source: invoice1, target: vault1 }));
    const b = await links.link(undefined, {
      source: vault1,
      target: invoice1,
      linkType: LinkType.Cascade,
    });
    const c = await links.link(undefined, {
      source: vault1,
      target: user1,
      linkType: LinkType.AggregateRoot,
    });
    const d = await links.link(undefined, input({ source: invoice1, target: vault2 }));
    const e = await links.link(
      undefined,
      input({ source: invoice1, target: vault1, linkType: LinkType.Cascade }),
    );
    const f = await links.link(undefined, input({ source: ledger1, target: invoice1 }));

    expect(ids(await links.findOutbound(vault1))).toEqual([b.id, c.id]);
    expect(ids(await links.findOutbound(invoice1))).toEqual([a.id, d.id, e.id]);
    expect(ids(await links.findOutbound(ledger1))).toEqual([f.id]);
    expect(ids(await links.findInbound(vault1))).toEqual([a.id, e.id]);
    expect(ids(await links.findInbound(invoice1))).toEqual([b.id, f.id]);
    expect(ids(await links.findInbound(user1))).toEqual([c.id]);
    expect(ids(await links.findBetween(vault1, invoice1))).toEqual([a.id, b.id, e.id]);
    expect(ids(await links.findBetween(invoice1, vault1))).toEqual([a.id, b.id, e.id]);
    expect(ids(await links.findBetween(vault1, user1))).toEqual([c.id]);
    expect(await links.findBetween(vault2, user1)).toEqual([]);
    expect(ids(await links.findByType(LinkType.Reference))).toEqual([a.id, d.id, f.id]);
    expect(ids(await links.findByType('reference', undefined, 2))).toEqual([a.id, d.id]);
    expect(ids(await links.findByType(LinkType.Cascade))).toEqual([b.id, e.id]);
    expect(ids(await links.findByType(LinkType.AggregateRoot))).toEqual([c.id]);
    expect(await links.findOutbound(ref('vault', 'Vault', 'missing'))).toEqual([]);
    // Whole objects, not just ids.
    expect(await links.findInbound(user1)).toEqual([c]);
  });

  it('bind(tx) runs every method inside that transaction', async () => {
    const created = await inTransaction(orm, async (tx) => {
      const bound = links.bind(tx);
      const l1 = await bound.link(input());
      const l2 = await bound.link(input({ target: vault2 }));
      const l3 = await bound.link({ source: vault1, target: invoice1, linkType: 'cascade' });
      expect((await bound.link(input())).id).toBe(l1.id);
      // Uncommitted: visible through the transaction only.
      expect(await count()).toBe(0);
      expect(await links.findOutbound(invoice1)).toEqual([]);
      // Same created_at within one transaction: creation order comes from the UUIDv7 ids.
      expect(ids(await bound.findOutbound(invoice1))).toEqual([l1.id, l2.id]);
      expect(ids(await bound.findInbound(vault1))).toEqual([l1.id]);
      expect(ids(await bound.findBetween(vault1, invoice1))).toEqual([l1.id, l3.id]);
      expect(ids(await bound.findByType(LinkType.Reference))).toEqual([l1.id, l2.id]);
      expect(ids(await bound.findByType(LinkType.Reference, 1))).toEqual([l1.id]);
      expect(await bound.unlink({ source: invoice1, target: vault2 })).toBe(1);
      return [l1, l3];
    });
    const { rows } = await pool.query('select id::text from integration_link order by id');
    expect(rows.map((r: { id: string }) => r.id)).toEqual(ids(created));
  });

  it('unlink removes only the matching direction and type and returns the count', async () => {
    await links.link(undefined, input());
    await links.link(undefined, input({ linkType: LinkType.Cascade }));
    await links.link(undefined, input({ linkType: LinkType.AggregateRoot }));
    const reverse = await links.link(undefined, input({ source: vault1, target: invoice1 }));
    const other = await links.link(undefined, input({ target: vault2 }));

    expect(
      await links.unlink(undefined, {
        source: invoice1,
        target: vault1,
        linkType: LinkType.Cascade,
      }),
    ).toBe(1);
    expect(await count()).toBe(4);
    expect(
      await inTransaction(orm, (tx) => links.unlink(tx, { source: invoice1, target: vault1 })),
    ).toBe(2);
    expect(await links.unlink(undefined, { source: invoice1, target: vault1 })).toBe(0);
    expect(ids(await links.findByType(LinkType.Reference))).toEqual([reverse.id, other.id]);

    // An unlink in a transaction that rolls back removes nothing.
    await expect(
      inTransaction(orm, async (tx) => {
        expect(await links.unlink(tx, { source: vault1, target: invoice1 })).toBe(1);
        throw new Error('rollback');
      }),
    ).rejects.toThrow('rollback');
    expect(await count()).toBe(2);
  });

  it('scopes links per tenant: the same mapping under two tenants is two rows', async () => {
    const none = await links.link(undefined, input());
    const t1 = await links.link(undefined, input({ tenantId: 't1' }));
    const t2 = await links.link(undefined, input({ tenantId: 't2' }));
    expect((await links.link(undefined, input({ tenantId: 't1' }))).id).toBe(t1.id);
    expect((await links.link(undefined, input())).id).toBe(none.id);
    expect(new Set([none.id, t1.id, t2.id]).size).toBe(3);
    expect(await count()).toBe(3);
    expect([none.tenantId, t1.tenantId, t2.tenantId]).toEqual([null, 't1', 't2']);

    // No tenant given means links without a tenant, never every tenant (hardening #11).
    expect(ids(await links.findOutbound(invoice1))).toEqual([none.id]);
    expect(ids(await links.findOutbound(invoice1, undefined, 't1'))).toEqual([t1.id]);
    expect(ids(await links.findInbound(vault1, undefined, 't2'))).toEqual([t2.id]);
    expect(ids(await links.findInbound(vault1, undefined, null))).toEqual([none.id]);
    expect(await links.findInbound(vault1, undefined, 't3')).toEqual([]);

    expect(
      await links.unlink(undefined, { source: invoice1, target: vault1, tenantId: 't1' }),
    ).toBe(1);
    expect(
      await links.unlink(undefined, { source: invoice1, target: vault1, tenantId: null }),
    ).toBe(1);
    expect(await links.findOutbound(invoice1)).toEqual([]);
    expect(ids(await links.findOutbound(invoice1, undefined, 't2'))).toEqual([t2.id]);
  });

  it('stores SQL-looking text, unicode and emoji verbatim', async () => {
    const hostile = `'); DELETE FROM integration_link; -- $1 ? ?? :name \\ "quoted" ::jsonb`;
    const source = ref(hostile, `${hostile} 🔐`, `Ünïcødé 漢字 שלום ${hostile}`);
    const target = ref('vault', 'Vault', `$2::text 🔐 ${hostile}`);
    const metadata = { [hostile]: hostile, nested: [{ emoji: '🔐', rtl: 'שלום', q: '?' }] };
    const link = await inTransaction(orm, (tx) =>
      links.link(tx, { source, target, linkType: LinkType.Reference, metadata, tenantId: hostile }),
    );
    expect(link).toMatchObject({ source, target, metadata, tenantId: hostile });
    const { rows } = await pool.query(
      `select source_module, source_entity_type, source_entity_id, target_entity_id, metadata,
              tenant_id from integration_link`,
    );
    expect(rows).toEqual([
      {
        source_module: source.module,
        source_entity_type: source.entityType,
        source_entity_id: source.entityId,
        target_entity_id: target.entityId,
        metadata,
        tenant_id: hostile,
      },
    ]);
    expect(await links.findOutbound(source, undefined, hostile)).toEqual([link]);
    expect(await links.findBetween(target, source, undefined, hostile)).toEqual([link]);
    expect(
      (await links.link(undefined, { source, target, linkType: 'reference', tenantId: hostile }))
        .id,
    ).toBe(link.id);
    expect(await links.unlink(undefined, { source, target, tenantId: hostile })).toBe(1);
  });

  it('throws TransactionRequiredError for a handle that is not a transaction of the ORM', async () => {
    const root = orm.prisma ?? orm.knex ?? orm.pool;
    const notTx: unknown[] = [{}, 'tx', 42, root];
    for (const handle of notTx) {
      await expect(links.link(handle, input())).rejects.toBeInstanceOf(TransactionRequiredError);
      // `{}` alone is now an empty options object: the handle goes in `{ tx }`.
      await expect(links.findOutbound(invoice1, { tx: handle })).rejects.toBeInstanceOf(
        TransactionRequiredError,
      );
      await expect(
        links.unlink(handle, { source: invoice1, target: vault1 }),
      ).rejects.toBeInstanceOf(TransactionRequiredError);
      expect(() => links.bind(handle)).toThrow(TransactionRequiredError);
    }
    expect(await count()).toBe(0);
    // Without a transaction, bind() runs each call on its own (transactional: false handlers).
    const unbound = links.bind(undefined);
    await unbound.link(input());
    expect(await unbound.findOutbound(invoice1)).toHaveLength(1);
    expect(await links.bind(null).unlink({ source: invoice1, target: vault1 })).toBe(1);
    if (orm.pool) {
      // A pool client outside BEGIN is not a transaction either.
      const client: PoolClient = await orm.pool.connect();
      try {
        await expect(links.link(client, input())).rejects.toBeInstanceOf(TransactionRequiredError);
      } finally {
        client.release();
      }
    }
    expect(await count()).toBe(0);
  });
});

/** Waits until a link INSERT is blocked on a row lock held by another transaction. */
async function waitForBlockedInsert(pool: Pool): Promise<void> {
  await waitFor(
    async () => {
      const { rows } = await pool.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid()
            and wait_event_type = 'Lock' and query ilike '%insert into %integration_link%'`,
      );
      return rows[0]!.n === 1;
    },
    10_000,
    'the second INSERT to wait for the first transaction',
  );
}

describe('IntegrationLinkService input validation (pg)', () => {
  let db: TestDatabase;
  let orm: OrmClients;
  let moduleRef: TestingModule;
  let links: IntegrationLinkService;
  let pool: Pool;
  let kept: IntegrationLink;

  beforeAll(async () => {
    db = await createTestDatabase();
    orm = createOrm('pg', db.url);
    ({ moduleRef, links } = await bootLinks(orm));
    pool = new Pool({ connectionString: db.url, max: 2 });
    // Existing data that bad input must never touch.
    kept = await links.link(undefined, input({ metadata: { keep: true } }));
  });
  afterAll(async () => {
    await pool.end();
    await moduleRef.close();
    await orm.close();
    await db.drop();
  });

  const rows = async (): Promise<unknown[]> =>
    (await pool.query('select id::text, metadata from integration_link order by id')).rows;

  /** Runs `call` in a transaction; asserts InvalidLinkError on `field`, no write, tx usable. */
  const rejects = async (field: string, call: (tx: unknown) => Promise<unknown>): Promise<void> => {
    let caught: unknown;
    await inTransaction(orm, async (tx) => {
      caught = await call(tx).then(
        () => undefined,
        (e: unknown) => e,
      );
      // The caller's transaction is still usable: no SQL ran.
      await (tx as PoolClient).query('select 1');
    });
    expect(caught).toBeInstanceOf(InvalidLinkError);
    expect((caught as InvalidLinkError).field).toBe(field);
    expect(await rows()).toEqual([{ id: kept.id, metadata: { keep: true } }]);
  };
  const badLink = (over: Record<string, unknown>, field: string): Promise<void> =>
    rejects(field, (tx) => links.link(tx, { ...input(), ...over } as CreateLinkInput));

  it.each<[string, unknown]>([
    ['unknown', 'parent'],
    ['wrong case', 'Reference'],
    ['missing', undefined],
    ['number', 1],
    ['SQL', "reference'); drop table integration_link; --"],
  ])('rejects a link type that is %s', async (_what, linkType) => {
    await badLink({ linkType }, 'linkType');
  });

  it.each<[string, string, unknown]>([
    ['source', 'missing', undefined],
    ['source', 'a string', 'billing:Invoice:i-1'],
    ['source.module', 'empty', { ...invoice1, module: '' }],
    ['source.module', 'blank', { ...invoice1, module: '  \t ' }],
    ['source.entityType', 'missing', { module: 'billing', entityId: 'i-1' }],
    ['source.entityId', 'a number', { ...invoice1, entityId: 42 }],
    ['source.entityId', 'over 200 characters', { ...invoice1, entityId: 'x'.repeat(201) }],
    ['source.entityId', 'holding NUL', { ...invoice1, entityId: 'i\u00001' }],
    ['source.entityId', 'holding a lone surrogate', { ...invoice1, entityId: 'i-\ud800' }],
  ])('rejects %s when it is %s', async (field, _what, source) => {
    await badLink({ source }, field);
  });

  it.each<[string, string, unknown]>([
    ['target', 'null', null],
    ['target.module', 'null', { ...vault1, module: null }],
    ['target.entityType', 'an object', { ...vault1, entityType: { toString: () => 'Vault' } }],
    ['target.entityId', 'a lone low surrogate', { ...vault1, entityId: '\udc00' }],
  ])('rejects %s when it is %s', async (field, _what, target) => {
    await badLink({ target }, field);
  });

  it('rejects a link from an entity to itself', async () => {
    await badLink({ source: vault1, target: { ...vault1 } }, 'target');
  });

  it.each<[string, string, unknown]>([
    ['metadata', 'an array', [1, 2]],
    ['metadata', 'a string', '{"a":1}'],
    ['metadata', 'a Date', new Date(0)],
    ['metadata', 'a Map', new Map([['a', 1]])],
    ['metadata.n', 'holding a BigInt', { n: 10n }],
    ['metadata.f', 'holding a function', { f: () => 1 }],
    ['metadata.x', 'holding NaN', { x: Number.NaN }],
    ['metadata.s', 'holding a NUL string', { s: 'a\u0000' }],
    ['metadata.list[1]', 'holding undefined in an array', { list: [1, undefined] }],
  ])('rejects %s when it is %s', async (field, _what, metadata) => {
    await badLink({ metadata }, field);
  });

  it('rejects metadata with a cycle', async () => {
    const metadata: Record<string, unknown> = { a: 1 };
    metadata.self = metadata;
    await badLink({ metadata }, 'metadata.self');
  });

  it.each<[string, unknown]>([
    ['empty', ''],
    ['a number', 7],
    ['holding NUL', 't\u00001'],
  ])('rejects a tenant id that is %s', async (_what, tenantId) => {
    await badLink({ tenantId }, 'tenantId');
  });

  it('rejects a missing input, bad query arguments and a bad unlink filter', async () => {
    await rejects('input', (tx) => links.link(tx, null as unknown as CreateLinkInput));
    await rejects('source.entityId', (tx) => links.findOutbound({ ...invoice1, entityId: '' }, tx));
    await rejects('target', (tx) => links.findInbound(undefined as unknown as EntityRef, tx));
    await rejects('tenantId', (tx) => links.findInbound(vault1, tx, ''));
    await rejects('linkType', (tx) => links.findByType('nope' as LinkType, tx));
    await rejects('limit', (tx) => links.findByType(LinkType.Reference, tx, 0));
    await rejects('limit', (tx) => links.findByType(LinkType.Reference, tx, 1.5));
    await rejects('b.module', (tx) => links.findBetween(vault1, { ...invoice1, module: '' }, tx));
    await rejects('filter', (tx) => links.unlink(tx, null as never));
    await rejects('linkType', (tx) =>
      links.unlink(tx, { source: invoice1, target: vault1, linkType: 'x' as LinkType }),
    );
    await rejects('target.entityId', (tx) =>
      links.unlink(tx, { source: invoice1, target: { ...vault1, entityId: 'a\u0000' } }),
    );
  });

  it('validates before checking the transaction: bad input with a non-transaction still reports the input', async () => {
    await expect(links.link({}, input({ linkType: 'nope' as LinkType }))).rejects.toBeInstanceOf(
      InvalidLinkError,
    );
    await expect(links.link({}, input())).rejects.toBeInstanceOf(TransactionRequiredError);
    expect(await rows()).toHaveLength(1);
  });

  it('explains the problem in the message', async () => {
    await expect(links.link(undefined, input({ linkType: 'parent' as LinkType }))).rejects.toThrow(
      "Invalid integration link: linkType must be one of 'reference', 'cascade', 'aggregate_root'",
    );
  });
});

describe('IntegrationLinkRepository.insert when the conflicting row disappears (pg)', () => {
  let db: TestDatabase;
  let pool: Pool;
  const repository = new IntegrationLinkRepository(new IntegrationTables());
  const link = {
    source: invoice1,
    target: vault1,
    linkType: LinkType.Reference,
    metadataJson: '{"v":2}',
    tenantId: null,
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 2 });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  /** The pool, but every INSERT that conflicts has its conflicting row deleted right after. */
  const deletingAfterConflict = (times: number): SqlExecutor => ({
    async query<TRow>(sql: string, params: readonly unknown[] = []) {
      const result = await pool.query(sql, [...params]);
      if (
        sql.includes('INSERT INTO "public"."integration_link"') &&
        result.rows.length === 0 &&
        times-- > 0
      )
        await pool.query('delete from integration_link');
      return { rows: result.rows as TRow[], rowCount: result.rowCount ?? 0 };
    },
  });

  it('inserts again and reports the link as created', async () => {
    await repository.insert(pool, { ...link, metadataJson: '{"v":1}' }, uuidv7());
    const id = uuidv7();
    const result = await repository.insert(deletingAfterConflict(1), link, id);
    expect(result).toMatchObject({ created: true, link: { id, metadata: { v: 2 } } });
    expect((await pool.query('select id::text from integration_link')).rows).toEqual([{ id }]);
  });

  it('gives up with an error after three such conflicts in a row', async () => {
    const alwaysGone: SqlExecutor = {
      async query<TRow>(sql: string, params: readonly unknown[] = []) {
        const isInsert = sql.includes('INSERT INTO "public"."integration_link"');
        // Each INSERT conflicts with a row that is deleted before the SELECT can read it.
        if (isInsert) await repository.insert(pool, { ...link, metadataJson: '{}' }, uuidv7());
        const result = await pool.query(sql, [...params]);
        if (isInsert) await pool.query('delete from integration_link');
        return { rows: result.rows as TRow[], rowCount: result.rowCount ?? 0 };
      },
    };
    await expect(repository.insert(alwaysGone, link, uuidv7())).rejects.toThrow(
      'conflicted 3 times with a row that was deleted before it could be read',
    );
    expect((await pool.query('select count(*)::int as n from integration_link')).rows[0].n).toBe(0);
  });
});
