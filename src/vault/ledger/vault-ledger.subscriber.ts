import { Injectable, Optional } from '@nestjs/common';
import type { Prisma } from '../../generated/prisma/client';
import {
  DomainEventPublisher,
  IntegrationConsumer,
  OnIntegrationEvent,
  type EventsMatching,
  type HandlerContext,
} from 'nestjs-integration';
import { VaultFaultInjector } from '../faults/vault-fault.injector';
import type { VaultBalanceChanged } from '../vault.events';
import './vault-ledger.events';

/** Consumer name of the ledger module. */
export const VAULT_LEDGER_CONSUMER = 'vault-ledger';

/**
 * Per-owner, per-currency balance projection. Exactly-once effects (inbox + ctx.tx) keep it
 * equal to the sum of that owner's vault balances.
 */
@Injectable()
@IntegrationConsumer(VAULT_LEDGER_CONSUMER)
export class VaultLedgerSubscriber {
  constructor(
    private readonly publisher: DomainEventPublisher,
    @Optional() private readonly faults?: VaultFaultInjector,
  ) {}

  @OnIntegrationEvent('vault.opened')
  async onOpened(
    event: EventsMatching<'vault.opened'>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    // Not a Prisma upsert with an empty update: Prisma runs that as a read and a plain INSERT,
    // which fails when a concurrent delivery (another vault, same owner and currency) inserts
    // between the two.
    const { ownerId, currency } = event.payload;
    const created = await ctx.tx.$executeRaw`
      INSERT INTO vault_ledger (owner_id, currency, balance_minor)
      VALUES (${ownerId}, ${currency}, 0)
      ON CONFLICT (owner_id, currency) DO NOTHING`;
    // The owner's first ledger in this currency: a follow-up event in the delivery's own
    // transaction, correlated with the vault.opened it handles (the handler's context).
    if (created === 1) {
      await this.publisher.publish(ctx.tx, {
        name: 'vault-ledger.opened',
        aggregateType: 'Ledger',
        aggregateId: `${ownerId}:${currency}`,
        payload: { ownerId, currency },
      });
    }
    this.injectFault(event, ctx);
  }

  @OnIntegrationEvent('vault.deposited')
  async onDeposited(
    event: EventsMatching<'vault.deposited'>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    await this.apply(event.payload, BigInt(event.payload.amountMinor), ctx.tx);
    this.injectFault(event, ctx);
  }

  @OnIntegrationEvent('vault.withdrawn')
  async onWithdrawn(
    event: EventsMatching<'vault.withdrawn'>,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    await this.apply(event.payload, -BigInt(event.payload.amountMinor), ctx.tx);
    this.injectFault(event, ctx);
  }

  /** Test hook (VAULT_FAULT_RATE): a failure after the writes must roll them back. */
  private injectFault(event: { readonly id: string }, ctx: HandlerContext): void {
    this.faults?.afterWrites({ eventId: event.id, consumer: ctx.consumer, attempt: ctx.attempt });
  }

  private async apply(
    payload: VaultBalanceChanged,
    delta: bigint,
    tx: Prisma.TransactionClient,
  ): Promise<void> {
    // One statement, atomic under concurrent deliveries for the same owner and currency.
    await tx.$executeRaw`
      INSERT INTO vault_ledger (owner_id, currency, balance_minor)
      VALUES (${payload.ownerId}, ${payload.currency}, ${delta}::bigint)
      ON CONFLICT (owner_id, currency) DO UPDATE
        SET balance_minor = vault_ledger.balance_minor + EXCLUDED.balance_minor,
            updated_at = now()`;
  }
}
