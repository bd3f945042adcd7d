import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  Res,
  UseFilters,
} from '@nestjs/common';
import type { Response } from 'express';
import { PrismaService } from '../database/prisma.service';
import { LockVaultDto, MoveMoneyDto, OpenVaultDto, VersionedCommandDto } from './dto/vault.dto';
import { publicErrorSummary } from './public-error';
import { IdempotencyKey } from './validation/idempotency-key.decorator';
import { VaultHttpExceptionFilter } from './vault-http.filter';
import { VaultService } from './vault.service';
import type { CommandOptions, VaultOperationResult, VaultView } from './vault.types';

const uuid = new ParseUUIDPipe();

function options(key: string | undefined, body?: VersionedCommandDto): CommandOptions {
  return { idempotencyKey: key, expectedVersion: body?.expectedVersion };
}

/** Marks replayed idempotent results, so clients can tell. */
function reply(res: Response, result: VaultOperationResult): VaultOperationResult {
  if (result.replayed) res.setHeader('Idempotent-Replayed', 'true');
  return result;
}

/**
 * HTTP API of the vault sample. Mutations accept an `Idempotency-Key` header (at most 128
 * printable ASCII characters), scoped to the vault's owner.
 */
@Controller('vaults')
@UseFilters(VaultHttpExceptionFilter)
export class VaultController {
  constructor(
    private readonly vaults: VaultService,
    private readonly prisma: PrismaService,
  ) {}

  @Post()
  async open(
    @Body() body: OpenVaultDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VaultOperationResult> {
    return reply(res, await this.vaults.open(body, options(key)));
  }

  @Get(':id')
  get(@Param('id', uuid) id: string): Promise<VaultView> {
    return this.vaults.get(id);
  }

  @Post(':id/deposits')
  async deposit(
    @Param('id', uuid) id: string,
    @Body() body: MoveMoneyDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VaultOperationResult> {
    return reply(res, await this.vaults.deposit(id, BigInt(body.amountMinor), options(key, body)));
  }

  @Post(':id/withdrawals')
  async withdraw(
    @Param('id', uuid) id: string,
    @Body() body: MoveMoneyDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VaultOperationResult> {
    return reply(res, await this.vaults.withdraw(id, BigInt(body.amountMinor), options(key, body)));
  }

  @Post(':id/lock')
  @HttpCode(200)
  async lock(
    @Param('id', uuid) id: string,
    @Body() body: LockVaultDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VaultOperationResult> {
    return reply(res, await this.vaults.lock(id, body.reason, options(key, body)));
  }

  @Post(':id/unlock')
  @HttpCode(200)
  async unlock(
    @Param('id', uuid) id: string,
    @Body() body: VersionedCommandDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VaultOperationResult> {
    return reply(res, await this.vaults.unlock(id, options(key, body)));
  }

  @Post(':id/close')
  @HttpCode(200)
  async close(
    @Param('id', uuid) id: string,
    @Body() body: VersionedCommandDto,
    @IdempotencyKey() key: string | undefined,
    @Res({ passthrough: true }) res: Response,
  ): Promise<VaultOperationResult> {
    return reply(res, await this.vaults.close(id, options(key, body)));
  }

  /** The vault's outbox events, each with every consumer's delivery of it. */
  @Get(':id/events')
  async events(@Param('id', uuid) id: string) {
    return (await this.vaults.events(id)).map(({ event, deliveries }) => ({
      id: event.id,
      name: event.name,
      payload: event.payload,
      createdAt: event.createdAt.toISOString(),
      deliveries: deliveries.map((d) => ({
        consumer: d.consumer,
        status: d.status,
        attemptCount: d.attemptCount,
        // Stored errors may carry file paths and source excerpts: the full text is for operators.
        lastError: publicErrorSummary(d.lastError),
        processedAt: d.processedAt?.toISOString() ?? null,
      })),
    }));
  }

  /** Notifications the notifications module produced for this vault, oldest first. */
  @Get(':id/notifications')
  async notifications(@Param('id', uuid) id: string) {
    await this.vaults.get(id);
    const rows = await this.prisma.vaultNotification.findMany({
      where: { vaultId: id },
      orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    });
    return rows.map((n) => ({
      id: n.id,
      eventId: n.eventId,
      eventName: n.eventName,
      message: n.message,
      createdAt: n.createdAt.toISOString(),
    }));
  }
}
