import { PrismaService } from '../../src/database/prisma.service';
import type request from 'supertest';
import { OutboxProcessor, type EventsMatching, type HandlerContext } from '../../src/integration';
import { VaultLedgerSubscriber } from '../../src/vault/ledger/vault-ledger.subscriber';
import { checkVaultConsistency, useVaultApp } from '../support/vault-app';
import { gate, waitFor } from '../support/wait-for';

/** Hardening issue, items 16–21: the vault HTTP API under hostile and concurrent input. */
describe('vault API hardening', () => {
  const vault = useVaultApp(4);
  const { http, settled, eventCount } = vault;

  const open = async (ownerId: string, name = 'Savings', key?: string) => {
    const req = http().post('/vaults');
    if (key) req.set('Idempotency-Key', key);
    return req.send({ ownerId, name, currency: 'EUR' });
  };
  const openId = async (ownerId: string): Promise<string> => {
    const res = await open(ownerId);
    expect(res.status).toBe(201);
    return res.body.vault.id as string;
  };
  const expectLedgerConsistent = async (): Promise<void> => {
    await vault.app.get(OutboxProcessor).drain();
    await settled(20_000);
    const c = await checkVaultConsistency(vault.pool);
    expect(c.deliveryMismatches).toEqual([]);
    expect(c.ledgerMismatches).toEqual([]);
    expect(c.notificationMismatches).toEqual([]);
    expect(c.operationMismatches).toEqual([]);
  };
  /** Server processes of this database waiting for a lock in a statement matching `pattern`. */
  const lockWaiters = async (pattern: string): Promise<number> =>
    (
      await vault.pool.query<{ n: number }>(
        `select count(*)::int as n from pg_stat_activity
          where datname = current_database() and wait_event_type = 'Lock' and query ~ $1`,
        [pattern],
      )
    ).rows[0]!.n;

  describe('Idempotency-Key scoped to the owner, with a request fingerprint (hardening #16)', () => {
    it("never returns another owner's vault for a reused opening key (hardening #16)", async () => {
      const alice = await open('alice16', 'Savings', 'shared-open-key');
      expect(alice.status).toBe(201);
      const bob = await open('bob16', 'Savings', 'shared-open-key');
      expect(bob.status).toBe(201);
      expect(bob.headers['idempotent-replayed']).toBeUndefined();
      expect(bob.body.replayed).toBe(false);
      expect(bob.body.vault.ownerId).toBe('bob16');
      expect(bob.body.vault.id).not.toBe(alice.body.vault.id);
      expect(JSON.stringify(bob.body)).not.toContain(alice.body.vault.id);

      // Alice's own retry replays her result.
      const again = await open('alice16', 'Savings', 'shared-open-key');
      expect(again.status).toBe(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect(again.body.vault.id).toBe(alice.body.vault.id);
    });

    it('refuses a reused opening key with another body, revealing nothing (hardening #16)', async () => {
      const first = await open('carol16', 'Savings', 'open-fp');
      expect(first.status).toBe(201);
      const before = await eventCount();
      const other = await open('carol16', 'Holidays', 'open-fp');
      expect(other.status).toBe(422);
      expect(other.body.message).toContain('Idempotency-Key');
      expect(JSON.stringify(other.body)).not.toContain(first.body.vault.id);
      expect(await eventCount()).toBe(before);
    });

    it("a deposit key reused on another vault is refused without naming the other vault, and another owner's use of it is unrelated (hardening #16)", async () => {
      const a1 = await openId('dave16');
      const a2 = await openId('dave16');
      const b1 = await openId('erin16');
      const first = await http()
        .post(`/vaults/${a1}/deposits`)
        .set('Idempotency-Key', 'dep-16')
        .send({ amountMinor: '5' });
      expect(first.status).toBe(201);

      const elsewhere = await http()
        .post(`/vaults/${a2}/deposits`)
        .set('Idempotency-Key', 'dep-16')
        .send({ amountMinor: '5' });
      expect(elsewhere.status).toBe(422);
      expect(JSON.stringify(elsewhere.body)).not.toContain(a1);

      // Same vault, same key, another expectedVersion: another request.
      const changed = await http()
        .post(`/vaults/${a1}/deposits`)
        .set('Idempotency-Key', 'dep-16')
        .send({ amountMinor: '5', expectedVersion: 0 });
      expect(changed.status).toBe(422);

      const otherOwner = await http()
        .post(`/vaults/${b1}/deposits`)
        .set('Idempotency-Key', 'dep-16')
        .send({ amountMinor: '5' });
      expect(otherOwner.status).toBe(201);
      expect(otherOwner.body.replayed).toBe(false);
      expect(otherOwner.body.vault.id).toBe(b1);
      expect(otherOwner.body.vault.balanceMinor).toBe('5');

      const lock = await http()
        .post(`/vaults/${b1}/lock`)
        .set('Idempotency-Key', 'lock-16')
        .send({ reason: 'audit' });
      expect(lock.status).toBe(200);
      await http()
        .post(`/vaults/${b1}/lock`)
        .set('Idempotency-Key', 'lock-16')
        .send({ reason: 'other reason' })
        .expect(422);
      await expectLedgerConsistent();
    });
  });

  it('a retry that arrives while the original waits for the vault row replays the original result (hardening #17)', async () => {
    const id = await openId('frank17');
    // Statements on the vault table (not vault_ledger, vault_operation, …).
    const VAULT = '\\mvault\\M';
    const holder = await vault.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT id FROM vault WHERE id = $1 FOR UPDATE', [id]);
      const send = () =>
        http()
          .post(`/vaults/${id}/lock`)
          .set('Idempotency-Key', 'lock-17')
          .send({ reason: 'audit' })
          .then((r) => r);
      const original = send();
      await waitFor(async () => (await lockWaiters(VAULT)) >= 1, 10_000, 'the original to wait');
      const retry = send();
      await waitFor(async () => (await lockWaiters(VAULT)) >= 2, 10_000, 'the retry to wait');
      await holder.query('COMMIT');
      const [a, b] = await Promise.all([original, retry]);
      expect([a.status, b.status]).toEqual([200, 200]);
      const replayed = a.body.replayed ? a : b;
      const applied = a.body.replayed ? b : a;
      expect(applied.body.replayed).toBe(false);
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expect({ ...replayed.body, replayed: false }).toEqual(applied.body);
      expect(applied.body.vault).toMatchObject({ status: 'locked', version: 1 });
    } finally {
      await holder.query('ROLLBACK').catch(() => undefined);
      holder.release();
    }
  });

  describe('hostile inputs answer 4xx with a field error and write nothing (hardening #18)', () => {
    let vaultId: string;
    const NUL = 'a\u0000b';
    const LONE = 'a\ud800b';
    // The shortest key keeps 20,000 levels under the 100 kB body limit.
    const nested = (depth: number, leaf: string): string =>
      '{"":'.repeat(depth) + leaf + '}'.repeat(depth);
    const nestedArray = (depth: number): string => '['.repeat(depth) + ']'.repeat(depth);

    beforeAll(async () => {
      vaultId = await openId('grace18');
      await http().post(`/vaults/${vaultId}/deposits`).send({ amountMinor: '10' }).expect(201);
    });

    type Hostile = {
      readonly name: string;
      readonly field: string;
      readonly send: () => Promise<request.Response>;
    };
    const cases: Hostile[] = [
      {
        name: 'an Idempotency-Key of 192 characters',
        field: 'Idempotency-Key',
        send: () =>
          http()
            .post('/vaults')
            .set('Idempotency-Key', 'k'.repeat(192))
            .send({ ownerId: 'grace18', name: 'n', currency: 'EUR' }),
      },
      {
        name: 'an Idempotency-Key of 4,000 characters on a deposit',
        field: 'Idempotency-Key',
        send: () =>
          http()
            .post(`/vaults/${vaultId}/deposits`)
            .set('Idempotency-Key', 'k'.repeat(4000))
            .send({ amountMinor: '1' }),
      },
      {
        name: 'a non-ASCII Idempotency-Key',
        field: 'Idempotency-Key',
        send: () =>
          http()
            .post(`/vaults/${vaultId}/deposits`)
            .set('Idempotency-Key', 'caf\u00e9')
            .send({ amountMinor: '1' }),
      },
      {
        name: 'NUL in ownerId',
        field: 'ownerId',
        send: () => http().post('/vaults').send({ ownerId: NUL, name: 'n', currency: 'EUR' }),
      },
      {
        name: 'NUL in name',
        field: 'name',
        send: () => http().post('/vaults').send({ ownerId: 'grace18', name: NUL, currency: 'EUR' }),
      },
      {
        name: 'NUL in reason',
        field: 'reason',
        send: () => http().post(`/vaults/${vaultId}/lock`).send({ reason: NUL }),
      },
      {
        name: 'a lone surrogate in ownerId',
        field: 'ownerId',
        send: () => http().post('/vaults').send({ ownerId: LONE, name: 'n', currency: 'EUR' }),
      },
      {
        name: 'a lone surrogate in name',
        field: 'name',
        send: () =>
          http().post('/vaults').send({ ownerId: 'grace18', name: LONE, currency: 'EUR' }),
      },
      {
        name: 'a lone low surrogate in reason',
        field: 'reason',
        send: () => http().post(`/vaults/${vaultId}/lock`).send({ reason: 'x\udc00' }),
      },
      {
        name: 'expectedVersion 2^31 on a deposit',
        field: 'expectedVersion',
        send: () =>
          http()
            .post(`/vaults/${vaultId}/deposits`)
            .send({ amountMinor: '1', expectedVersion: 2 ** 31 }),
      },
      {
        name: 'expectedVersion 2^53 on a lock',
        field: 'expectedVersion',
        send: () =>
          http().post(`/vaults/${vaultId}/lock`).send({ expectedVersion: Number.MAX_SAFE_INTEGER }),
      },
      {
        name: 'NUL in the ledger owner',
        field: 'ownerId',
        send: () => http().get('/owners/a%00b/ledger'),
      },
      {
        name: 'a 20,000-level nested object body',
        field: 'body',
        send: () =>
          http().post('/vaults').set('content-type', 'application/json').send(nested(20_000, '1')),
      },
      {
        name: 'a 20,000-level nested array in a deposit',
        field: 'body',
        send: () =>
          http()
            .post(`/vaults/${vaultId}/deposits`)
            .set('content-type', 'application/json')
            .send(`{"amountMinor":"1","x":${nestedArray(20_000)}}`),
      },
      {
        name: 'a body over the size limit',
        field: 'body',
        send: () =>
          http()
            .post('/vaults')
            .send({ ownerId: 'grace18', name: 'n'.repeat(200_000), currency: 'EUR' }),
      },
      {
        name: 'an amount beyond what a bigint holds',
        field: 'amountMinor',
        send: () =>
          http().post(`/vaults/${vaultId}/deposits`).send({ amountMinor: '9223372036854775807' }),
      },
      {
        name: 'a deposit that overflows the balance',
        field: 'amountMinor',
        send: async () => {
          // Ten deposits of 10^18 − 1 would pass 2^63 − 1: the first refused one ends the loop.
          for (;;) {
            const res = await http()
              .post(`/vaults/${vaultId}/deposits`)
              .send({ amountMinor: '999999999999999999' });
            if (res.status !== 201) return res;
          }
        },
      },
    ];

    it.each(cases.map((c) => [c.name, c] as const))(
      '%s answers 4xx naming the field (hardening #18)',
      async (_name, c) => {
        const before = await eventCount();
        const res = await c.send();
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(JSON.stringify(res.body)).toContain(c.field);
        expect(await eventCount()).toBe(before);
      },
    );

    it('the ledger still equals the vault balances after the hostile inputs (hardening #18)', async () => {
      expect((await http().get(`/vaults/${vaultId}`).expect(200)).body.balanceMinor).toBe('10');
      await expectLedgerConsistent();
    });
  });

  describe('amounts are bounded so no ledger sum overflows (hardening #19)', () => {
    it('refuses deposits whose sums would overflow; the ledger keeps equal to the balances (hardening #19)', async () => {
      const v1 = await openId('henry19');
      const v2 = await openId('henry19');
      // The QA reproduction: two deposits that each fit a bigint but whose sum does not.
      const big1 = await http()
        .post(`/vaults/${v1}/deposits`)
        .send({ amountMinor: '4999999999999999995' });
      const big2 = await http()
        .post(`/vaults/${v2}/deposits`)
        .send({ amountMinor: '5999999999999999994' });
      expect([big1.status, big2.status]).toEqual([400, 400]);
      expect(JSON.stringify(big1.body)).toContain('amountMinor');

      const max = '1000000000000000';
      await http().post(`/vaults/${v1}/deposits`).send({ amountMinor: max }).expect(201);
      await http().post(`/vaults/${v2}/deposits`).send({ amountMinor: max }).expect(201);
      const over = await http().post(`/vaults/${v1}/deposits`).send({ amountMinor: '1' });
      expect(over.status).toBe(422);
      expect(over.body.field).toBe('amountMinor');
      expect(over.body.message).toContain('1000000000000000');
      await expectLedgerConsistent();
      const ledger = await http().get('/owners/henry19/ledger').expect(200);
      expect(ledger.body).toEqual([expect.objectContaining({ balanceMinor: '2000000000000000' })]);
    });

    it('refuses to open more vaults than an owner may hold (hardening #19)', async () => {
      await vault.pool.query(
        `insert into vault (id, owner_id, name, currency)
         select gen_random_uuid(), 'ivy19', 'v' || i, 'EUR' from generate_series(1, 1000) i`,
      );
      try {
        const before = await eventCount();
        const res = await open('ivy19');
        expect(res.status).toBe(422);
        expect(res.body.field).toBe('ownerId');
        expect(await eventCount()).toBe(before);
      } finally {
        await vault.pool.query("delete from vault where owner_id = 'ivy19'");
      }
    });
  });

  it('GET /vaults/:id/events shows a safe summary of lastError, without paths or source (hardening #20)', async () => {
    const id = await openId('jack20');
    await expectLedgerConsistent();
    const leaked = [
      'PrismaClientKnownRequestError: ',
      'Invalid `tx.vaultLedger.upsert()` invocation in',
      '/work/app/src/vault/ledger/vault-ledger.subscriber.ts:20:5',
      '',
      '  17   event: IntegrationEvent<VaultOpened>,',
      '  18   ctx: HandlerContext<Prisma.TransactionClient>,',
      '→ 20   await ctx.tx.vaultLedger.upsert(',
      'Unique constraint failed on the fields: (`owner_id`,`currency`)',
      '    at Object.handler (/work/app/dist/src/vault/ledger/vault-ledger.subscriber.js:21:13)',
      '    at C:\\app\\node_modules\\@prisma\\client\\runtime.js:1:2',
      'x'.repeat(1000),
    ].join('\n');
    // The opening's deliveries (ledger and notifications) both carry the leaked error.
    const stored = await vault.pool.query(
      `update integration_delivery d set last_error = $2
         from outbox_event e where e.id = d.event_id and e.aggregate_id = $1`,
      [id, leaked],
    );
    expect(stored.rowCount).toBe(2);
    const events = (await http().get(`/vaults/${id}/events`).expect(200)).body as {
      deliveries: { consumer: string; lastError: string | null }[];
    }[];
    const summaries = events[0]!.deliveries.map((d) => d.lastError!);
    expect(summaries).toHaveLength(2);
    for (const summary of summaries) {
      expect(summary).toContain('PrismaClientKnownRequestError');
      expect(summary).toContain('Unique constraint failed');
      for (const secret of [
        '/work/',
        'vault-ledger.subscriber',
        'ctx.tx.vaultLedger',
        '→',
        ' at ',
        'C:\\',
      ])
        expect(summary).not.toContain(secret);
      expect(summary.length).toBeLessThanOrEqual(200);
    }
  });

  it('onOpened under concurrent deliveries for one owner and currency: both succeed, one ledger row (hardening #21)', async () => {
    const prisma = vault.app.get(PrismaService);
    const ledger = vault.app.get(VaultLedgerSubscriber);
    const event = (vaultId: string) =>
      ({
        id: vaultId,
        name: 'vault.opened',
        payload: { vaultId, ownerId: 'kim21', name: 'n', currency: 'EUR', version: 0 },
      }) as unknown as EventsMatching<'vault.opened'>;
    const first = gate();
    const inserted = gate();
    const tx1 = prisma.$transaction(async (tx) => {
      await ledger.onOpened(event('00000000-0000-7000-8000-000000000211'), {
        tx,
      } as unknown as HandlerContext<typeof tx>);
      inserted.open();
      await first.promise;
    });
    await inserted.promise;
    const tx2 = prisma.$transaction(async (tx) => {
      await ledger.onOpened(event('00000000-0000-7000-8000-000000000212'), {
        tx,
      } as unknown as HandlerContext<typeof tx>);
    });
    await waitFor(
      async () => (await lockWaiters('vault_ledger')) >= 1,
      10_000,
      'the second delivery to wait',
    );
    first.open();
    await expect(Promise.all([tx1, tx2])).resolves.toBeDefined();
    // A duplicate delivery after both committed is a no-op too.
    await prisma.$transaction(async (tx) => {
      await ledger.onOpened(event('00000000-0000-7000-8000-000000000213'), {
        tx,
      } as unknown as HandlerContext<typeof tx>);
    });
    const rows = await vault.pool.query(
      "select balance_minor from vault_ledger where owner_id = 'kim21'",
    );
    expect(rows.rows).toEqual([{ balance_minor: '0' }]);
  });
});
