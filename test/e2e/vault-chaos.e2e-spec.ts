import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Client, Pool } from 'pg';
import { migrateLatest } from '../../db/migrator';
import { EmbeddedPostgresServer, findFreePort } from '../../src/database/embedded-postgres';
import { AppInstance, planOps } from '../support/app-process';
import { checkVaultConsistency, outOfOrderDeliveries } from '../support/vault-app';
import { waitFor } from '../support/wait-for';

/** Statuses that settle a command: done, or refused without writing anything. */
const DEFINITIVE = new Set([200, 201, 400, 404, 409, 422]);

/** Claims given back unrun (releases) per event published, at most (issue 13, acceptance 4). */
const MAX_RELEASES_PER_EVENT = 1.1;

/**
 * Issue 13, acceptance 4: the chaos run. Two app processes on a PostgreSQL server of their own
 * (the run's shared server must not restart), HTTP commands flowing all along, handlers failing
 * at random (the `VAULT_FAULT_RATE` test hook), one instance SIGKILLed while it holds claimed
 * deliveries, PostgreSQL stopped and started mid-stream. Then: nothing lost, nothing
 * duplicated, per-vault order kept per consumer, and little churn.
 */
describe('vault chaos run (issue 13 acceptance 4)', () => {
  let tmp: string;
  let server: EmbeddedPostgresServer;
  let url: string;
  let pool: Pool;
  const instances: AppInstance[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(tmpdir(), 'ni-chaos-pg-'));
    await chmod(tmp, 0o755); // the server may run as the postgres user
    server = new EmbeddedPostgresServer({
      dataDir: path.join(tmp, 'data'),
      // A fixed port: the restarted server must answer where the apps reconnect.
      port: await findFreePort(),
      settings: { fsync: 'off', full_page_writes: 'off', max_connections: 200 },
    });
    await server.start();
    const admin = new Client({ connectionString: server.url() });
    await admin.connect();
    await admin.query('CREATE DATABASE vault_chaos');
    await admin.end();
    url = server.url('vault_chaos');
    await migrateLatest(url);
    pool = new Pool({ connectionString: url, max: 4 });
    // The restart ends idle connections: the pool drops them and opens new ones.
    pool.on('error', () => undefined);
  });
  afterAll(async () => {
    await Promise.all(instances.map((i) => i.stop()));
    await pool?.end();
    await server?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** A number from the database, `undefined` while it is unreachable (mid-restart). */
  const count = async (sql: string): Promise<number | undefined> => {
    try {
      return (await pool.query<{ n: number }>(sql)).rows[0]!.n;
    } catch {
      return undefined;
    }
  };

  it('requests flow while an instance is SIGKILLed, PostgreSQL restarts and handlers fail: nothing lost, nothing duplicated, order kept, releases per event at most 1.1', async () => {
    const env = (workerId: string): NodeJS.ProcessEnv => ({
      DATABASE_URL: url,
      PROCESSOR_WORKER_ID: workerId,
      PROCESSOR_LEASE_MS: '1500',
      PROCESSOR_IDLE_POLL_MS: '100',
      // Faults are frequent: retry soon, so a failing key does not hold its vault for long.
      PROCESSOR_RETRY_BASE_DELAY_MS: '50',
      PROCESSOR_RETRY_MAX_DELAY_MS: '500',
      VAULT_FAULT_RATE: '0.2',
    });
    const a = new AppInstance(await findFreePort(), env('chaos-a'));
    const b = new AppInstance(await findFreePort(), env('chaos-b'));
    instances.push(a, b);
    await Promise.all([a.start(), b.start()]);

    const vaults: string[] = [];
    for (let i = 0; i < 16; i++) {
      const res = await fetch(`${b.url}/vaults`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ownerId: `chaos-owner-${i % 8}`, name: `v${i}`, currency: 'EUR' }),
      });
      expect(res.status).toBe(201);
      vaults.push(((await res.json()) as { vault: { id: string } }).vault.id);
    }
    const ops = planOps(vaults, 600, 13, 'chaos');

    // The client: workers send commands to the running instances in turn. A command that gets
    // no answer or a 5xx goes back in the queue, sent again later with the same key; its
    // worker first waits until that instance is healthy again (or gone), as a client backs off.
    const queue = [...ops];
    let settled = 0;
    let sent = 0;
    let chaosOver = false;
    let databaseDown = false;
    let failedWhileDown = 0;
    const worker = async (n: number): Promise<void> => {
      for (;;) {
        const op = queue.shift();
        if (!op) {
          if (chaosOver) return;
          // Everything sent while the chaos goes on: wait for retries coming back.
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const running = instances.filter((i) => i.running);
        if (running.length === 0) {
          // Both instances down: only at the end of a failed run (the chaos keeps one up).
          queue.unshift(op);
          if (chaosOver) return;
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        const target = running[(sent++ + n) % running.length]!;
        const status = await target.send(op);
        if (typeof status === 'number' && DEFINITIVE.has(status)) {
          op.status = status;
          settled++;
          continue;
        }
        if (databaseDown) failedWhileDown++;
        queue.push(op);
        await waitFor(
          async () => !target.running || (await target.health()) === 200,
          30_000,
          `${target.url} to be healthy again`,
        );
      }
    };
    const client = Promise.all(Array.from({ length: 6 }, (_, n) => worker(n)));

    const chaos = async (): Promise<{ orphaned: number }> => {
      // 1. SIGKILL instance a while it holds claimed deliveries. A table lock holds every ledger
      //    handler inside its transaction, so a's claimed ledger deliveries stay claimed until
      //    it dies (reads and the vault commands go on: they do not write the ledger).
      await waitFor(() => settled >= 120, 30_000, '120 commands settled');
      const blocker = await pool.connect();
      let orphaned: number;
      try {
        await blocker.query('BEGIN');
        await blocker.query('LOCK TABLE vault_ledger IN SHARE MODE');
        await waitFor(
          async () =>
            ((await count(`select count(*)::int as n from integration_delivery
                             where locked_by = 'chaos-a' and status = 'processing'
                               and consumer_name = 'vault-ledger'`)) ?? 0) > 0,
          20_000,
          'instance a to hold claimed ledger deliveries',
        );
        await a.kill();
        orphaned = (await count(`select count(*)::int as n from integration_delivery
                                  where locked_by = 'chaos-a' and status = 'processing'`))!;
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      await a.start();

      // 2. Restart PostgreSQL under load: stop it until both instances see it down and commands
      //    have failed meanwhile, start it again, until both see it up.
      await waitFor(() => settled >= 250, 30_000, '250 commands settled');
      databaseDown = true;
      await server.stop();
      const health: (number | string)[] = [];
      await waitFor(
        async () => {
          health.splice(0, 2, await a.health(), await b.health());
          return failedWhileDown > 0 && health[0] === 503 && health[1] === 503;
        },
        20_000,
        'commands to fail and both instances to report the database down',
      ).catch((error: Error) => {
        // What the instances said, for a run that fails here.
        const tail = (i: AppInstance) => i.output().split('\n').slice(-15).join('\n');
        error.message += `: ${failedWhileDown} failed while down, health ${health.join('/')}\na:\n${tail(a)}\nb:\n${tail(b)}`;
        throw error;
      });
      await server.start();
      databaseDown = false;
      await waitFor(
        async () => (await a.health()) === 200 && (await b.health()) === 200,
        30_000,
        'both instances to reach the database again',
      );
      return { orphaned };
    };
    const { orphaned } = await chaos().finally(() => (chaosOver = true));
    await client;

    // Every command got a definitive answer (some after retries with their key).
    expect(ops.filter((op) => op.status === undefined)).toEqual([]);
    expect(orphaned).toBeGreaterThan(0);
    expect(failedWhileDown).toBeGreaterThan(0);

    // Both instances finish every delivery; a dead letter fails at once.
    let deadLetters: string[] = [];
    await waitFor(
      async () => {
        deadLetters = (
          await pool.query<{ problem: string }>(
            `select consumer_name || ' ' || event_id || ': ' || coalesce(last_error, '') as problem
               from integration_delivery where status = 'dead_letter'`,
          )
        ).rows.map((r) => r.problem);
        return deadLetters.length > 0 || (await checkVaultConsistency(pool)).unprocessed === 0;
      },
      40_000,
      'every delivery to be processed',
    );
    expect(deadLetters).toEqual([]);

    // Nothing lost, nothing duplicated: each accepted command is one event, each refused one
    // none; each event has one delivery per consumer it matches, all processed; the
    // notifications consumer wrote exactly one notification per event, and the ledger
    // consumer applied each balance event once (the ledger equals the vault balances).
    const c = await checkVaultConsistency(pool);
    expect(c.unprocessed).toBe(0);
    expect(c.deliveryMismatches).toEqual([]);
    expect(c.notificationMismatches).toEqual([]);
    expect(c.ledgerMismatches).toEqual([]);
    expect(c.operationMismatches).toEqual([]);
    const events = new Map(
      (
        await pool.query<{ idempotency_key: string; n: number }>(
          `select o.idempotency_key, count(e.id)::int as n from vault_operation o
             left join outbox_event e on e.headers->>'operationId' = o.id::text
            where o.idempotency_key like 'chaos-%' group by o.idempotency_key`,
        )
      ).rows.map((r) => [r.idempotency_key, r.n]),
    );
    const accepted = ops.filter((op) => op.status === 200 || op.status === 201);
    expect(accepted.filter((op) => events.get(op.key) !== 1).map((op) => op.key)).toEqual([]);
    expect(accepted.length).toBeGreaterThan(ops.length / 2);
    expect(
      ops.filter((op) => !accepted.includes(op) && events.has(op.key)).map((op) => op.key),
    ).toEqual([]);

    // Per-vault order, per consumer: notifications in commit order, and neither consumer
    // started a vault's delivery before an earlier one of the same vault.
    const { rows } = await pool.query<{
      in_commit_order: string[];
      in_notification_order: string[];
    }>(`
      select (select array_agg(d.event_id::text order by d.position)
                from integration_delivery d join outbox_event e on e.id = d.event_id
               where e.aggregate_id = v.id::text and d.consumer_name = 'vault-notifications') as in_commit_order,
             (select array_agg(n.event_id::text order by n.created_at, n.id)
                from vault_notification n where n.vault_id = v.id) as in_notification_order
        from vault v`);
    expect(rows).toHaveLength(16);
    for (const r of rows) expect(r.in_notification_order).toEqual(r.in_commit_order);
    expect(await outOfOrderDeliveries(pool)).toEqual([]);

    // The faults did happen: deliveries that needed more than one attempt.
    const { retriedDeliveries, deliveries, releasesPerEvent } = (
      await pool.query<{ retriedDeliveries: number; deliveries: number; releasesPerEvent: number }>(
        `select count(*) filter (where attempt_count > 1)::int as "retriedDeliveries",
                count(*)::int as deliveries,
                -- A release gives a claim back unrun: claim_count goes up, attempt_count does not
                -- (a claim counts one of each, a release takes the attempt back). So releases =
                -- sum(claim_count - attempt_count), per event published as the issue counts them.
                sum(claim_count - attempt_count)::float8
                  / (select count(*) from outbox_event) as "releasesPerEvent"
           from integration_delivery`,
      )
    ).rows[0]!;
    expect(retriedDeliveries).toBeGreaterThan(deliveries * 0.1);
    // Issue 13: under a 20 % failure rate, releases per event stay at most 1.1 (the per-event
    // model released a failing key's later events at every failure: 1.46 in the chaos run).
    // Without the consumers' run limits (KeyRunLimits) this run gave back 0.5 to 2.4.
    expect(releasesPerEvent).toBeLessThanOrEqual(MAX_RELEASES_PER_EVENT);
  }, 120_000);
});
