import { Pool } from 'pg';
import { findFreePort } from '../../src/database/embedded-postgres';
import { AppInstance as Instance, drive, planOps, type Op } from '../support/app-process';
import { createTestDatabase, type TestDatabase } from '../support/test-database';
import { checkVaultConsistency, outOfOrderDeliveries } from '../support/vault-app';
import { waitFor } from '../support/wait-for';

describe('vault as real processes', () => {
  let db: TestDatabase;
  let pool: Pool;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: 4 });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const env = (workerId: string): NodeJS.ProcessEnv => ({
    DATABASE_URL: db.url,
    PROCESSOR_LEASE_MS: '1500',
    PROCESSOR_IDLE_POLL_MS: '100',
    PROCESSOR_WORKER_ID: workerId,
  });

  const openVaults = async (instance: Instance, owners: string[]): Promise<string[]> => {
    const ids: string[] = [];
    for (const owner of owners) {
      const res = await fetch(`${instance.url}/vaults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ownerId: owner, name: `vault of ${owner}`, currency: 'EUR' }),
      });
      expect(res.status).toBe(201);
      ids.push(((await res.json()) as { vault: { id: string } }).vault.id);
    }
    return ids;
  };

  const expectConsistent = async (ops: Op[], prefix: string): Promise<void> => {
    await waitFor(
      async () => (await checkVaultConsistency(pool)).unprocessed === 0,
      60_000,
      'every event to be processed',
    );
    const c = await checkVaultConsistency(pool);
    expect(c.deliveryMismatches).toEqual([]);
    expect(c.notificationMismatches).toEqual([]);
    expect(c.ledgerMismatches).toEqual([]);
    expect(c.operationMismatches).toEqual([]);
    // Accepted operations happened exactly once; rejected ones left nothing behind.
    const stored = new Map(
      (
        await pool.query<{ idempotency_key: string; n: number }>(
          `select o.idempotency_key, count(e.id)::int as n from vault_operation o
             left join outbox_event e on e.headers->>'operationId' = o.id::text
            where o.idempotency_key like $1 group by o.idempotency_key`,
          [`${prefix}-%`],
        )
      ).rows.map((r) => [r.idempotency_key, r.n]),
    );
    for (const op of ops) {
      expect(op.status).not.toBe('lost');
      if (op.status === 200 || op.status === 201)
        expect([op.key, stored.get(op.key)]).toEqual([op.key, 1]);
      else {
        expect([op.key, op.status]).toEqual([op.key, expect.any(Number)]);
        expect([op.key, stored.has(op.key)]).toEqual([op.key, false]);
      }
    }
  };

  it('SIGKILL mid-stream (once while a batch is claimed): after restart every committed change has one notification, the ledger balances', async () => {
    const app = new Instance(await findFreePort(), env('crash-a'));
    await app.start();
    try {
      const vaults = await openVaults(app, [
        'o1',
        'o1',
        'o2',
        'o3',
        'o4',
        'o5',
        'o5',
        'o6',
        'o7',
        'o8',
      ]);
      await waitFor(
        async () =>
          (await pool.query('select count(*)::int as n from vault_ledger')).rows[0].n === 8,
        15_000,
        'ledger rows',
      );
      const ops = planOps(vaults, 500, 42, 'crash');
      let killing: Promise<void> | undefined;
      let claimedAtKill = 0;

      const killWhileClaimed = async (): Promise<void> => {
        // Block the ledger's writes: the ledger consumer waits inside its batch transaction, so
        // the batch stays claimed (status = processing) while we kill the process.
        const blocker = await pool.connect();
        try {
          await blocker.query('BEGIN');
          // A table lock in SHARE mode blocks the ledger's writes but, being a single lock, cannot
          // deadlock with a consumer transaction that already wrote some ledger rows.
          await blocker.query('LOCK TABLE vault_ledger IN SHARE MODE');
          // The ledger's handler is inside its transaction, waiting for our lock: its
          // deliveries are claimed (processing) and stay so until the process dies.
          await waitFor(
            async () =>
              (
                await pool.query(
                  `select count(*)::int as n from pg_stat_activity
                    where datname = current_database() and wait_event_type = 'Lock'
                      and query ~ 'vault_ledger'`,
                )
              ).rows[0].n > 0,
            30_000,
            'a ledger handler waiting inside its transaction',
          );
          claimedAtKill = (
            await pool.query(
              `select count(*)::int as n from integration_delivery
                where consumer_name = 'vault-ledger' and status = 'processing' and locked_by = 'crash-a'`,
            )
          ).rows[0].n;
          await app.kill();
        } finally {
          await blocker.query('ROLLBACK');
          blocker.release();
        }
      };

      // Phase 1: requests keep flowing; from op 150 on we kill the app while a batch is
      // claimed. Requests in flight then are lost; the ones not yet sent wait for the restart.
      let dead = false;
      await drive(
        ops,
        (op) => app.send(op),
        8,
        (i) => {
          if (i === 150) killing = killWhileClaimed().then(() => void (dead = true));
        },
        () => dead,
      );
      await killing;
      expect(claimedAtKill).toBeGreaterThan(0);

      // Phase 2: restart; clients retry what was lost with the same key; kill again mid-stream.
      await app.start();
      await drive(
        ops.filter((op) => op.status === 'lost'),
        (op) => app.send(op),
        4,
      );
      dead = false;
      const unsent = ops.filter((op) => op.status === undefined);
      await drive(
        unsent,
        (op) => app.send(op),
        8,
        (i) => {
          if (i === Math.floor(unsent.length / 2))
            killing = app.kill().then(() => void (dead = true));
        },
        () => dead,
      );
      await killing;

      // Phase 3: restart, retry the lost ones, let everything drain.
      await app.start();
      await drive(
        ops.filter((op) => op.status === 'lost' || op.status === undefined),
        (op) => app.send(op),
        4,
      );
      await expectConsistent(ops, 'crash');
      const rejected = ops.filter((op) => op.status === 422 || op.status === 409).length;
      expect(rejected).toBeGreaterThan(0); // the plan includes withdrawals beyond the balance
    } finally {
      await app.stop();
    }
  });

  it('two instances on one database: every notification once, per-vault order preserved', async () => {
    await pool.query(
      `truncate outbox_event, integration_delivery, integration_consumer, integration_consumer_host,
                inbox_event, integration_link, vault_notification, vault_ledger, vault_operation, vault`,
    );
    const a = new Instance(await findFreePort(), env('twin-a'));
    const b = new Instance(await findFreePort(), env('twin-b'));
    await Promise.all([a.start(), b.start()]);
    try {
      const vaults = await openVaults(a, ['t1', 't2', 't3', 't4', 't5', 't6']);
      const ops = planOps(vaults, 300, 7, 'twin');
      await drive(ops, (op, i) => (i % 2 === 0 ? a : b).send(op), 8);
      await expectConsistent(ops, 'twin');
      // Per vault, the notifications follow commit order (the deliveries' positions), and each
      // consumer processed the vault's deliveries in that order.
      const { rows } = await pool.query<{
        vault_id: string;
        in_event_order: string[];
        in_notification_order: string[];
      }>(`
        select v.id as vault_id,
               (select array_agg(d.event_id::text order by d.position)
                  from integration_delivery d join outbox_event e on e.id = d.event_id
                 where e.aggregate_id = v.id::text and d.consumer_name = 'vault-notifications') as in_event_order,
               (select array_agg(n.event_id::text order by n.created_at, n.id) from vault_notification n where n.vault_id = v.id) as in_notification_order
          from vault v`);
      expect(rows).toHaveLength(6);
      for (const r of rows) expect(r.in_notification_order).toEqual(r.in_event_order);
      expect(await outOfOrderDeliveries(pool)).toEqual([]);
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});
