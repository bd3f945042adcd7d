import { Injectable } from '@nestjs/common';
import {
  IntegrationConsumer,
  OnIntegrationEvent,
  type HandlerContext,
  type IntegrationEvent,
} from 'nestjs-integration';
import type { PoolClient } from 'pg';
import type { VaultBalanceChanged, VaultOpened, VaultStatusChanged } from '../vault/vault.events';
import { VAULT_PROJECTION_CONSUMER } from './projection.constants';
import { VaultProjectionRepository } from './vault-projection.repository';

/** What each status event makes of the vault. */
const STATUS_OF = {
  'vault.locked': 'locked',
  'vault.unlocked': 'open',
  'vault.closed': 'closed',
} as const;

/**
 * The projection app's consumer of the vault's events, taken in from NATS by
 * `IntegrationInboundModule`: each handler writes in `ctx.tx`, the transaction that also records
 * the message in the inbox, so a redelivered message changes nothing twice.
 */
@Injectable()
@IntegrationConsumer(VAULT_PROJECTION_CONSUMER)
export class VaultProjectionConsumer {
  constructor(private readonly projection: VaultProjectionRepository) {}

  @OnIntegrationEvent('vault.opened')
  async onOpened(
    event: IntegrationEvent<VaultOpened>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    await this.projection.opened(ctx.tx, event.payload);
  }

  @OnIntegrationEvent('vault.deposited')
  @OnIntegrationEvent('vault.withdrawn')
  async onBalanceChanged(
    event: IntegrationEvent<VaultBalanceChanged>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    await this.projection.balanceChanged(ctx.tx, event.payload);
  }

  @OnIntegrationEvent('vault.locked')
  @OnIntegrationEvent('vault.unlocked')
  @OnIntegrationEvent('vault.closed')
  async onStatusChanged(
    event: IntegrationEvent<VaultStatusChanged>,
    ctx: HandlerContext<PoolClient>,
  ): Promise<void> {
    const status = STATUS_OF[event.name as keyof typeof STATUS_OF];
    await this.projection.statusChanged(ctx.tx, { ...event.payload, status });
  }
}
