import { Module } from '@nestjs/common';
import { VaultNotificationSubscriber } from './vault-notification.subscriber';

/** Notifications module: reacts to vault events, owns the vault_notification table. */
@Module({ providers: [VaultNotificationSubscriber] })
export class VaultNotificationsModule {}
