import { Inject, Injectable } from '@nestjs/common';
import type { Pool, PoolClient } from 'pg';
import { PROJECTION_POOL } from './projection.constants';

/** One vault as the projection knows it. */
export interface ProjectedVault {
  readonly vaultId: string;
  readonly name: string;
  readonly currency: string;
  /** Minor units, as a decimal string. */
  readonly balanceMinor: string;
  readonly status: string;
  readonly version: number;
}

/** An owner's summary: `GET /projection/owners/:ownerId`. */
export interface OwnerProjection {
  readonly ownerId: string;
  /** `vault.opened` events applied for this owner. */
  readonly vaultsOpened: number;
  /** Sum of the owner's vault balances per currency (minor units, decimal strings). */
  readonly balances: Readonly<Record<string, string>>;
  readonly vaults: readonly ProjectedVault[];
}

/** The projection's SQL: writes inside a handler's transaction, reads on the pool. */
@Injectable()
export class VaultProjectionRepository {
  constructor(@Inject(PROJECTION_POOL) private readonly pool: Pool) {}

  /** A vault was opened: its row, and one more vault for its owner. */
  async opened(
    tx: PoolClient,
    vault: { vaultId: string; ownerId: string; name: string; currency: string; version: number },
  ): Promise<void> {
    await tx.query(
      `insert into projection_vault (vault_id, owner_id, name, currency, version)
       values ($1, $2, $3, $4, $5)`,
      [vault.vaultId, vault.ownerId, vault.name, vault.currency, vault.version],
    );
    await tx.query(
      `insert into projection_owner (owner_id, vaults_opened) values ($1, 1)
       on conflict (owner_id) do update
         set vaults_opened = projection_owner.vaults_opened + 1, updated_at = now()`,
      [vault.ownerId],
    );
  }

  /** A deposit or withdrawal: the balance after it (events of one vault arrive in order). */
  async balanceChanged(
    tx: PoolClient,
    change: { vaultId: string; balanceMinor: string; version: number },
  ): Promise<void> {
    await tx.query(
      `update projection_vault set balance_minor = $2, version = $3, updated_at = now()
        where vault_id = $1`,
      [change.vaultId, change.balanceMinor, change.version],
    );
  }

  /** Locked, unlocked or closed. */
  async statusChanged(
    tx: PoolClient,
    change: { vaultId: string; status: string; version: number },
  ): Promise<void> {
    await tx.query(
      `update projection_vault set status = $2, version = $3, updated_at = now()
        where vault_id = $1`,
      [change.vaultId, change.status, change.version],
    );
  }

  /**
   * The owner's summary, or undefined when none of their events arrived yet. One statement, so
   * the count and the vaults come from one snapshot even while handlers are committing.
   */
  async owner(ownerId: string): Promise<OwnerProjection | undefined> {
    const { rows } = await this.pool.query<{
      vaults_opened: number;
      vault_id: string | null;
      name: string;
      currency: string;
      balance_minor: string;
      status: string;
      version: number;
    }>(
      `select o.vaults_opened, v.vault_id, v.name, v.currency, v.balance_minor::text,
              v.status, v.version
         from projection_owner o
         left join projection_vault v on v.owner_id = o.owner_id
        where o.owner_id = $1
        order by v.vault_id`,
      [ownerId],
    );
    if (!rows[0]) return undefined;
    const vaults = rows.filter((row) => row.vault_id !== null);
    const balances: Record<string, bigint> = {};
    for (const row of vaults)
      balances[row.currency] = (balances[row.currency] ?? 0n) + BigInt(row.balance_minor);
    return {
      ownerId,
      vaultsOpened: rows[0].vaults_opened,
      balances: Object.fromEntries(Object.entries(balances).map(([c, v]) => [c, v.toString()])),
      vaults: vaults.map((row) => ({
        vaultId: row.vault_id!,
        name: row.name,
        currency: row.currency,
        balanceMinor: row.balance_minor,
        status: row.status,
        version: row.version,
      })),
    };
  }
}
