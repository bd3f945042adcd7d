import { Module } from '@nestjs/common';
import { VaultLedgerController } from './vault-ledger.controller';
import { VaultLedgerSubscriber } from './vault-ledger.subscriber';

/** Ledger module: a per-owner balance projection fed by vault events. */
@Module({ controllers: [VaultLedgerController], providers: [VaultLedgerSubscriber] })
export class VaultLedgerModule {}
