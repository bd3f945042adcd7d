import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Pool } from 'pg';
import request from 'supertest';
import { AppModule } from '../../src/app.module';
import type { ProcessorOptions } from '../../src/integration';
import { VAULT_LEDGER_CONSUMER } from '../../src/vault/ledger/vault-ledger.subscriber';
import { VAULT_NOTIFICATIONS_CONSUMER } from '../../src/vault/notifications/vault-notification.subscriber';
import { createTestDatabase, type TestDatabase } from './test-database';
import { waitFor } from './wait-for';

/** The vault sample app in process, on a test database. */
export async function createVaultApp(
  url: string,
  processor: ProcessorOptions = {},
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    imports: [AppModule.forRoot({ url, processor: { idlePollIntervalMs: 50, ...processor } })],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.init();
  return app;
}

/** One vault app of a test file, on its own database, with a pool to read its tables. */
export interface VaultHarness {
  readonly app: INestApplication;
  readonly pool: Pool;
  /** Requests to the app's HTTP server. */
  http(): ReturnType<typeof request>;
  /** Waits until every vault event is fanned out and every delivery processed. */
  settled(timeoutMs?: number): Promise<void>;
  /** The vault's own events (not the ledger's follow-ups, published by its handler). */
  eventCount(): Promise<number>;
}

/**
 * Starts the vault app on a new test database before the file's tests (`beforeAll`) and closes
 * both after them (`afterAll`); `poolMax` sizes the test's own pool.
 */
export function useVaultApp(poolMax = 3): VaultHarness {
  let db: TestDatabase | undefined;
  let pool: Pool | undefined;
  let app: INestApplication | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new Pool({ connectionString: db.url, max: poolMax });
    app = await createVaultApp(db.url);
  });
  afterAll(async () => {
    await app?.close();
    await pool?.end();
    await db?.drop();
  });
  const harness: VaultHarness = {
    get app() {
      if (!app) throw new Error('the vault app starts in beforeAll');
      return app;
    },
    get pool() {
      if (!pool) throw new Error('the vault pool opens in beforeAll');
      return pool;
    },
    http: () => request(harness.app.getHttpServer()),
    settled: async (timeoutMs = 15_000) => {
      await waitFor(
        async () => (await checkVaultConsistency(harness.pool)).unprocessed === 0,
        timeoutMs,
        'the outbox to drain',
      );
    },
    eventCount: async () =>
      (
        await harness.pool.query<{ n: number }>(
          "select count(*)::int as n from outbox_event where event_name like 'vault.%'",
        )
      ).rows[0]!.n,
  };
  return harness;
}

/** Consistency of the whole vault story, read straight from the tables. */
export interface VaultConsistency {
  /**
   * Work not finished yet: vault events the sequencer has not fanned out (no delivery yet),
   * plus deliveries not yet processed (any consumer).
   */
  readonly unprocessed: number;
  /**
   * Vault events not fanned out to exactly their consumers: every vault event to
   * `vault-notifications`, the balance events (opened, deposited, withdrawn) to `vault-ledger`.
   */
  readonly deliveryMismatches: string[];
  /** Events without exactly one notification, and notifications without an event. */
  readonly notificationMismatches: string[];
  /** Owners whose ledger differs from the sum of their vault balances. */
  readonly ledgerMismatches: string[];
  /** Operations without exactly one event with their key, and events without an operation. */
  readonly operationMismatches: string[];
  readonly events: number;
  readonly operations: number;
}

export async function checkVaultConsistency(pool: Pool): Promise<VaultConsistency> {
  const one = async (sql: string): Promise<string[]> =>
    (await pool.query<{ problem: string }>(sql)).rows.map((r) => r.problem);
  const unprocessed = (
    await pool.query<{ n: number }>(
      `select (select count(*)::int from outbox_event e
                where e.event_name like 'vault.%'
                  and not exists (select 1 from integration_delivery d where d.event_id = e.id))
            + (select count(*)::int from integration_delivery where status <> 'processed') as n`,
    )
  ).rows[0]!.n;
  const deliveryMismatches = await one(`
    select 'event ' || e.id || ' (' || e.event_name || ') delivered to '
           || coalesce(string_agg(d.consumer_name, ',' order by d.consumer_name), 'nobody') as problem
      from outbox_event e left join integration_delivery d on d.event_id = e.id
     where e.event_name like 'vault.%'
     group by e.id, e.event_name
    having coalesce(string_agg(d.consumer_name, ',' order by d.consumer_name), '') <>
           case when e.event_name in ('vault.opened', 'vault.deposited', 'vault.withdrawn')
                then '${VAULT_LEDGER_CONSUMER},${VAULT_NOTIFICATIONS_CONSUMER}'
                else '${VAULT_NOTIFICATIONS_CONSUMER}' end`);
  const notificationMismatches = await one(`
    select 'event ' || e.id || ' has ' || count(n.id) || ' notifications' as problem
      from outbox_event e left join vault_notification n on n.event_id = e.id
     where e.event_name like 'vault.%' group by e.id having count(n.id) <> 1
    union all
    select 'notification ' || n.id || ' has no event' from vault_notification n
     where not exists (select 1 from outbox_event e where e.id = n.event_id)`);
  const ledgerMismatches = await one(`
    with sums as (select owner_id, currency, sum(balance_minor) as total from vault group by owner_id, currency)
    select 'owner ' || s.owner_id || ' ' || s.currency || ': vaults ' || s.total || ', ledger ' || coalesce(l.balance_minor::text, 'none') as problem
      from sums s left join vault_ledger l using (owner_id, currency)
     where l.balance_minor is distinct from s.total`);
  const operationMismatches = await one(`
    select 'operation ' || o.id || ' (' || o.kind || ') has ' || count(e.id) || ' events' as problem
      from vault_operation o
      left join outbox_event e on e.headers->>'operationId' = o.id::text
     group by o.id having count(e.id) <> 1`);
  const counts = (
    await pool.query<{ events: number; operations: number }>(
      "select (select count(*)::int from outbox_event where event_name like 'vault.%') as events, (select count(*)::int from vault_operation) as operations",
    )
  ).rows[0]!;
  if (counts.events !== counts.operations)
    operationMismatches.push(`${counts.events} events for ${counts.operations} operations`);
  return {
    unprocessed,
    deliveryMismatches,
    notificationMismatches,
    ledgerMismatches,
    operationMismatches,
    ...counts,
  };
}

/**
 * Deliveries a consumer processed before an earlier delivery of the same key (in commit
 * order, `position`). `processed_at` is the time the processing transaction started: a key's
 * later delivery is claimed only once the earlier one is finished, so in order it never starts
 * before the earlier one did (the ones processed in one transaction share the time).
 */
export async function outOfOrderDeliveries(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ problem: string }>(`
    select consumer_name || ' key ' || ordering_key || ': position ' || position
           || ' processed before position ' || previous_position as problem
      from (select d.consumer_name, d.ordering_key, d.position, d.processed_at,
                   lag(d.position) over w as previous_position,
                   lag(d.processed_at) over w as previous_processed_at
              from integration_delivery d
            window w as (partition by d.consumer_name, d.ordering_key order by d.position)) x
     where x.processed_at < x.previous_processed_at`);
  return rows.map((r) => r.problem);
}
