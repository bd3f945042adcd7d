import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Pool } from 'pg';
import { AppModule } from '../../src/app.module';
import type { ProcessorOptions } from '../../src/integration';

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

/** Consistency of the whole vault story, read straight from the tables. */
export interface VaultConsistency {
  /** Outbox events that are not yet processed. */
  readonly unprocessed: number;
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
      "select count(*)::int as n from outbox_event where status <> 'processed'",
    )
  ).rows[0]!.n;
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
  return { unprocessed, notificationMismatches, ledgerMismatches, operationMismatches, ...counts };
}
