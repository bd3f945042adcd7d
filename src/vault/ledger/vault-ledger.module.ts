import { Module } from '@nestjs/common';
import { VaultLedgerSubscriber } from './vault-ledger.subscriber';

/** Ledger module: a per-owner balance projection fed by vault events. */
@Module({ providers: [VaultLedgerSubscriber] })
export class VaultLedgerModule {}
