import { Injectable, Optional } from '@nestjs/common';
import type { Prisma } from '../../generated/prisma/client';
import {
  IntegrationConsumer,
  LinkType,
  OnIntegrationEvent,
  uuidv7,
  type EventsMatching,
  type HandlerContext,
} from 'nestjs-integration';
import { VaultFaultInjector } from '../faults/vault-fault.injector';
import '../vault.events';

/** Every vault event, discriminated by `name` (payload types come from the event map). */
export type VaultEvent = EventsMatching<'vault.*'>;

/** Consumer name of the notifications module. */
export const VAULT_NOTIFICATIONS_CONSUMER = 'vault-notifications';

/** The human-readable line of a notification. */
export function notificationMessage(event: VaultEvent): string {
  // Typed before the switch narrows it: a vault.* name missing from the event map still arrives.
  const name: string = event.name;
  switch (event.name) {
    case 'vault.opened':
      return `Vault "${event.payload.name}" opened in ${event.payload.currency}`;
    case 'vault.deposited':
      return `Deposited ${event.payload.amountMinor} (balance ${event.payload.balanceMinor})`;
    case 'vault.withdrawn':
      return `Withdrew ${event.payload.amountMinor} (balance ${event.payload.balanceMinor})`;
    case 'vault.locked':
      return `Vault locked${event.payload.reason ? `: ${event.payload.reason}` : ''}`;
    case 'vault.unlocked':
      return 'Vault unlocked';
    case 'vault.closed':
      return 'Vault closed';
    default:
      return name;
  }
}

/**
 * Writes one notification per vault event: the durable stand-in for "push to the queue".
 * It lives in the notifications module and knows vaults only through events and an
 * integration link (no foreign key to the vault table).
 */
@Injectable()
@IntegrationConsumer(VAULT_NOTIFICATIONS_CONSUMER)
export class VaultNotificationSubscriber {
  constructor(@Optional() private readonly faults?: VaultFaultInjector) {}

  @OnIntegrationEvent('vault.*')
  async onVaultEvent(
    event: VaultEvent,
    ctx: HandlerContext<Prisma.TransactionClient>,
  ): Promise<void> {
    const id = uuidv7();
    await ctx.tx.vaultNotification.create({
      data: {
        id,
        ownerId: event.payload.ownerId,
        vaultId: event.payload.vaultId,
        eventId: event.id,
        eventName: event.name,
        message: notificationMessage(event),
      },
    });
    await ctx.links.link({
      source: { module: 'notifications', entityType: 'VaultNotification', entityId: id },
      target: { module: 'vault', entityType: 'Vault', entityId: event.payload.vaultId },
      linkType: LinkType.Reference,
    });
    // Test hook (VAULT_FAULT_RATE): a failure after the writes must roll them back.
    this.faults?.afterWrites({ eventId: event.id, consumer: ctx.consumer, attempt: ctx.attempt });
  }
}
