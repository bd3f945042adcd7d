import { Injectable } from '@nestjs/common';
import type { Prisma } from '../../generated/prisma/client';
import { OnIntegrationEvent, type HandlerContext, type IntegrationEvent } from '../../integration';
import type { VaultBalanceChanged, VaultOpened } from '../vault.events';

/** Consumer name of the ledger module. */
export const VAULT_LEDGER_CONSUMER = 'vault-ledger';

/**
 * Per-owner, per-currency balance projection. Exactly-once effects (inbox + ctx.tx) keep it
 * equal to the sum of that owner's vault balances.
 */
@Injectable()
export class VaultLedgerSubscriber {
  @OnIntegrationEvent('vault.opened', { consumer: VAULT_LEDGER_CONSUMER })
  async onOpened(
    event: IntegrationEvent<VaultOpened>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    await ctx.tx.vaultLedger.upsert({
      where: {
        ownerId_currency: { ownerId: event.payload.ownerId, currency: event.payload.currency },
      },
      create: {
        ownerId: event.payload.ownerId,
        currency: event.payload.currency,
        balanceMinor: 0n,
      },
      update: {},
    });
  }

  @OnIntegrationEvent('vault.deposited', { consumer: VAULT_LEDGER_CONSUMER })
  async onDeposited(
    event: IntegrationEvent<VaultBalanceChanged>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    await this.apply(event.payload, BigInt(event.payload.amountMinor), ctx.tx);
  }

  @OnIntegrationEvent('vault.withdrawn', { consumer: VAULT_LEDGER_CONSUMER })
  async onWithdrawn(
    event: IntegrationEvent<VaultBalanceChanged>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    await this.apply(event.payload, -BigInt(event.payload.amountMinor), ctx.tx);
  }

  private async apply(
    payload: VaultBalanceChanged,
    delta: bigint,
    tx: Prisma.TransactionClient,
  ): Promise<void> {
    const event = { payload };
    await tx.vaultLedger.upsert({
      where: {
        ownerId_currency: { ownerId: event.payload.ownerId, currency: event.payload.currency },
      },
      create: {
        ownerId: event.payload.ownerId,
        currency: event.payload.currency,
        balanceMinor: delta,
      },
      update: { balanceMinor: { increment: delta }, updatedAt: new Date() },
    });
  }
}
