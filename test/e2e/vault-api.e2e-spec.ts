import { OutboxProcessor } from '../../src/integration';
import { checkVaultConsistency, useVaultApp } from '../support/vault-app';

describe('vault HTTP API', () => {
  const vault = useVaultApp(3);
  const { http, settled, eventCount } = vault;

  const open = async (ownerId = 'alice', currency = 'EUR'): Promise<string> => {
    const res = await http()
      .post('/vaults')
      .send({ ownerId, name: 'Savings', currency })
      .expect(201);
    return res.body.vault.id as string;
  };

  it('open, deposit, lock, unlock, withdraw, close: state, events, notifications and ledger agree', async () => {
    const id = await open('walk');
    const dep = await http()
      .post(`/vaults/${id}/deposits`)
      .send({ amountMinor: '2500' })
      .expect(201);
    expect(dep.body.vault).toMatchObject({ balanceMinor: '2500', version: 1, status: 'open' });
    await http().post(`/vaults/${id}/lock`).send({ reason: 'audit' }).expect(200);
    await http().post(`/vaults/${id}/unlock`).send({}).expect(200);
    await http().post(`/vaults/${id}/withdrawals`).send({ amountMinor: 2500 }).expect(201);
    const closed = await http().post(`/vaults/${id}/close`).send({}).expect(200);
    expect(closed.body.vault).toMatchObject({ status: 'closed', balanceMinor: '0', version: 5 });
    expect(closed.body.vault.closedAt).not.toBeNull();

    await settled();
    const events = (await http().get(`/vaults/${id}/events`).expect(200)).body as {
      name: string;
      deliveries: {
        consumer: string;
        status: string;
        attemptCount: number;
        lastError: string | null;
        processedAt: string | null;
      }[];
    }[];
    // Each event with every consumer's delivery: the ledger takes only the balance events.
    const both = [
      ['vault-ledger', 'processed'],
      ['vault-notifications', 'processed'],
    ];
    const notificationsOnly = [['vault-notifications', 'processed']];
    expect(events.map((e) => [e.name, e.deliveries.map((d) => [d.consumer, d.status])])).toEqual([
      ['vault.opened', both],
      ['vault.deposited', both],
      ['vault.locked', notificationsOnly],
      ['vault.unlocked', notificationsOnly],
      ['vault.withdrawn', both],
      ['vault.closed', notificationsOnly],
    ]);
    for (const d of events.flatMap((e) => e.deliveries)) {
      expect(d).toEqual({
        consumer: d.consumer,
        status: 'processed',
        attemptCount: 1,
        lastError: null,
        processedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
    }
    const notifications = (await http().get(`/vaults/${id}/notifications`).expect(200)).body as {
      eventName: string;
      message: string;
    }[];
    expect(notifications.map((n) => n.message)).toEqual([
      'Vault "Savings" opened in EUR',
      'Deposited 2500 (balance 2500)',
      'Vault locked: audit',
      'Vault unlocked',
      'Withdrew 2500 (balance 0)',
      'Vault closed',
    ]);
    const links = await vault.pool.query(
      "select count(*)::int as n from integration_link where target_entity_id = $1 and target_module = 'vault'",
      [id],
    );
    expect(links.rows[0].n).toBe(6);
    expect(
      (await vault.pool.query("select balance_minor from vault_ledger where owner_id = 'walk'"))
        .rows,
    ).toEqual([{ balance_minor: '0' }]);
  });

  it('invalid input answers 400 with field errors and writes nothing', async () => {
    const before = await eventCount();
    const res = await http()
      .post('/vaults')
      .send({ ownerId: '', currency: 'euro', extra: true })
      .expect(400);
    expect(res.body.message).toEqual(
      expect.arrayContaining([
        'property extra should not exist',
        'ownerId should not be empty',
        'name must be a string',
        'currency must be a three-letter ISO 4217 code such as EUR',
      ]),
    );
    const id = await open();
    for (const amountMinor of ['-5', '0', '1.5', 'abc', '1234567890123456789', 1.5, null]) {
      await http().post(`/vaults/${id}/deposits`).send({ amountMinor }).expect(400);
    }
    await http().get('/vaults/not-a-uuid').expect(400);
    await http()
      .post(`/vaults/${id}/deposits`)
      .send({ amountMinor: '1', expectedVersion: -1 })
      .expect(400);
    expect(await eventCount()).toBe(before + 1); // only the open
  });

  it('unknown ids answer 404; state conflicts 409; rule violations 422 — none publishes anything', async () => {
    const ghost = '00000000-0000-7000-8000-000000000000';
    await http().get(`/vaults/${ghost}`).expect(404);
    await http().post(`/vaults/${ghost}/deposits`).send({ amountMinor: '1' }).expect(404);
    await http().get(`/vaults/${ghost}/events`).expect(404);
    await http().get(`/vaults/${ghost}/notifications`).expect(404);

    const id = await open();
    const before = await eventCount();
    const broke = await http()
      .post(`/vaults/${id}/withdrawals`)
      .send({ amountMinor: '1' })
      .expect(422);
    expect(broke.body.message).toContain('Insufficient balance');
    await http().post(`/vaults/${id}/deposits`).send({ amountMinor: '10' }).expect(201);
    await http().post(`/vaults/${id}/close`).send({}).expect(422);
    const stale = await http()
      .post(`/vaults/${id}/deposits`)
      .send({ amountMinor: '1', expectedVersion: 0 })
      .expect(409);
    expect(stale.body.message).toContain('is at version 1, not 0');
    await http().post(`/vaults/${id}/unlock`).send({}).expect(409);
    await http().post(`/vaults/${id}/lock`).send({}).expect(200);
    await http().post(`/vaults/${id}/deposits`).send({ amountMinor: '1' }).expect(409);
    await http().post(`/vaults/${id}/lock`).send({}).expect(409);
    await http().post(`/vaults/${id}/unlock`).send({ expectedVersion: 2 }).expect(200);
    await http().post(`/vaults/${id}/withdrawals`).send({ amountMinor: '10' }).expect(201);
    await http().post(`/vaults/${id}/close`).send({}).expect(200);
    await http().post(`/vaults/${id}/deposits`).send({ amountMinor: '1' }).expect(409);
    await http().post(`/vaults/${id}/close`).send({}).expect(409);
    // deposit, lock, unlock, withdraw, close: five events, nothing from the rejected requests.
    expect(await eventCount()).toBe(before + 5);
  });

  it('an Idempotency-Key retry returns the original result and publishes nothing new', async () => {
    const id = await open();
    const first = await http()
      .post(`/vaults/${id}/deposits`)
      .set('Idempotency-Key', 'dep-42')
      .send({ amountMinor: '700' })
      .expect(201);
    const before = await eventCount();
    for (let i = 0; i < 3; i++) {
      const again = await http()
        .post(`/vaults/${id}/deposits`)
        .set('Idempotency-Key', 'dep-42')
        .send({ amountMinor: '700' })
        .expect(201);
      expect(again.headers['idempotent-replayed']).toBe('true');
      expect({ ...again.body, replayed: false }).toEqual(first.body);
    }
    expect(await eventCount()).toBe(before);
    expect((await http().get(`/vaults/${id}`).expect(200)).body.balanceMinor).toBe('700');
    // The same key for another request is refused.
    await http()
      .post(`/vaults/${id}/deposits`)
      .set('Idempotency-Key', 'dep-42')
      .send({ amountMinor: '1' })
      .expect(422);
    // Concurrent retries of one new key: one deposit.
    const results = await Promise.all(
      [1, 2, 3, 4, 5].map(() =>
        http()
          .post(`/vaults/${id}/deposits`)
          .set('Idempotency-Key', 'dep-race')
          .send({ amountMinor: '5' }),
      ),
    );
    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
    expect(new Set(results.map((r) => r.body.operationId)).size).toBe(1);
    expect((await http().get(`/vaults/${id}`).expect(200)).body.balanceMinor).toBe('705');
    const open2 = await http()
      .post('/vaults')
      .set('Idempotency-Key', 'open-1')
      .send({ ownerId: 'o', name: 'n', currency: 'USD' })
      .expect(201);
    const open3 = await http()
      .post('/vaults')
      .set('Idempotency-Key', 'open-1')
      .send({ ownerId: 'o', name: 'n', currency: 'USD' })
      .expect(201);
    expect(open3.body.vault.id).toBe(open2.body.vault.id);
  });

  it('20 parallel deposits and withdrawals keep the balance invariant, one event per success', async () => {
    const id = await open('racer');
    await http().post(`/vaults/${id}/deposits`).send({ amountMinor: '100' }).expect(201);
    const before = await eventCount();
    const ops = Array.from({ length: 20 }, (_, i) =>
      i % 2 === 0
        ? http().post(`/vaults/${id}/deposits`).send({ amountMinor: '30' })
        : http().post(`/vaults/${id}/withdrawals`).send({ amountMinor: '70' }),
    );
    const results = await Promise.all(ops);
    const ok = results.filter((r) => r.status === 201);
    const unexpected = results
      .filter((r) => r.status !== 201 && r.status !== 422)
      .map((r) => [r.status, r.body]);
    expect(unexpected).toEqual([]);
    const deposits = results.filter((r, i) => i % 2 === 0 && r.status === 201).length;
    const withdrawals = results.filter((r, i) => i % 2 === 1 && r.status === 201).length;
    expect(deposits).toBe(10);
    const balance = BigInt((await http().get(`/vaults/${id}`).expect(200)).body.balanceMinor);
    expect(balance).toBe(100n + 30n * BigInt(deposits) - 70n * BigInt(withdrawals));
    expect(balance >= 0n).toBe(true);
    expect(await eventCount()).toBe(before + ok.length);
    // Every success saw a non-negative balance.
    for (const r of ok) expect(BigInt(r.body.vault.balanceMinor) >= 0n).toBe(true);
    await vault.app.get(OutboxProcessor).drain();
    await settled();
    const consistency = await checkVaultConsistency(vault.pool);
    expect(consistency.deliveryMismatches).toEqual([]);
    expect(consistency.ledgerMismatches).toEqual([]);
    expect(consistency.notificationMismatches).toEqual([]);
    expect(consistency.operationMismatches).toEqual([]);
  });
});
