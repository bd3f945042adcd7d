import { Injectable } from '@nestjs/common';
import type { Prisma } from '../../generated/prisma/client';
import {
  LinkType,
  OnIntegrationEvent,
  uuidv7,
  type HandlerContext,
  type IntegrationEvent,
} from 'nestjs-integration';
import type { VaultBalanceChanged, VaultOpened, VaultStatusChanged } from '../vault.events';

type VaultEventPayload = VaultOpened | VaultBalanceChanged | VaultStatusChanged;

/** Consumer name of the notifications module. */
export const VAULT_NOTIFICATIONS_CONSUMER = 'vault-notifications';

/** The human-readable line of a notification. */
export function notificationMessage(event: IntegrationEvent<VaultEventPayload>): string {
  const p = event.payload;
  switch (event.name) {
    case 'vault.opened':
      return `Vault "${(p as VaultOpened).name}" opened in ${(p as VaultOpened).currency}`;
    case 'vault.deposited':
      return `Deposited ${(p as VaultBalanceChanged).amountMinor} (balance ${(p as VaultBalanceChanged).balanceMinor})`;
    case 'vault.withdrawn':
      return `Withdrew ${(p as VaultBalanceChanged).amountMinor} (balance ${(p as VaultBalanceChanged).balanceMinor})`;
    case 'vault.locked':
      return `Vault locked${(p as VaultStatusChanged).reason ? `: ${(p as VaultStatusChanged).reason}` : ''}`;
    case 'vault.unlocked':
      return 'Vault unlocked';
    case 'vault.closed':
      return 'Vault closed';
    default:
      return event.name;
  }
}

/**
 * Writes one notification per vault event: the durable stand-in for "push to the queue".
 * It lives in the notifications module and knows vaults only through events and an
 * integration link (no foreign key to the vault table).
 */
@Injectable()
export class VaultNotificationSubscriber {
  @OnIntegrationEvent('vault.*', { consumer: VAULT_NOTIFICATIONS_CONSUMER })
  async onVaultEvent(
    event: IntegrationEvent<VaultEventPayload>,
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
  }
}
