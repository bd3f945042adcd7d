import { Controller, Get, Param } from '@nestjs/common';
import { PrismaService } from '../../database/prisma.service';
import { SafeTextParamPipe } from '../validation/safe-text';
import { MAX_OWNER_ID_LENGTH } from '../vault.limits';

/** The ledger projection, per owner and currency. */
@Controller('owners')
export class VaultLedgerController {
  constructor(private readonly prisma: PrismaService) {}

  /** `GET /owners/:ownerId/ledger`: one row per currency (empty when the owner has none). */
  @Get(':ownerId/ledger')
  async ledger(
    @Param('ownerId', new SafeTextParamPipe('ownerId', MAX_OWNER_ID_LENGTH)) ownerId: string,
  ) {
    const rows = await this.prisma.vaultLedger.findMany({
      where: { ownerId },
      orderBy: { currency: 'asc' },
    });
    return rows.map((r) => ({
      ownerId: r.ownerId,
      currency: r.currency,
      balanceMinor: r.balanceMinor.toString(),
      updatedAt: r.updatedAt.toISOString(),
    }));
  }
}
