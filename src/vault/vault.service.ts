import { Injectable, Logger } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service';
import type { Prisma, Vault } from '../generated/prisma/client';
import {
  DomainEventPublisher,
  OutboxProcessor,
  uuidv7,
  type OutboxEventRecord,
  type PublishEventInput,
} from '../integration';
import { VaultConflictError, VaultNotFoundError, VaultRuleViolationError } from './vault.errors';
import type { VaultEventName } from './vault.events';
import {
  VaultStatus,
  type CommandOptions,
  type VaultOperationKind,
  type VaultOperationResult,
  type VaultView,
} from './vault.types';

type Tx = Prisma.TransactionClient;

/** What a command's body decides: the vault after the change and the event that says so. */
interface CommandOutcome<N extends VaultEventName> {
  readonly vault: Vault;
  readonly event: { readonly name: N; readonly payload: PublishEventInput<N>['payload'] };
}

/**
 * Commands on one vault queue on its row lock; under bursts a transaction may wait a while for
 * a connection and the lock. Prisma's defaults (2 s to start, 5 s to finish) are too tight.
 */
const TRANSACTION_OPTIONS = { maxWait: 15_000, timeout: 30_000 } as const;

/** Prisma's error code for a unique-constraint violation. */
const UNIQUE_VIOLATION = 'P2002';

/** Converts a stored vault row for the API. */
export function toVaultView(v: Vault): VaultView {
  return {
    id: v.id,
    ownerId: v.ownerId,
    name: v.name,
    currency: v.currency,
    balanceMinor: v.balanceMinor.toString(),
    status: v.status as VaultStatus,
    version: v.version,
    createdAt: v.createdAt.toISOString(),
    updatedAt: v.updatedAt.toISOString(),
    closedAt: v.closedAt?.toISOString() ?? null,
  };
}

/**
 * Vault commands. Each one changes the vault and publishes its event in the *same* Prisma
 * transaction (the outbox), records the operation with its idempotency key, and enforces the
 * invariants: no withdrawal beyond the balance, nothing on a closed vault, no money movement on
 * a locked vault, closing only at zero balance, optimistic concurrency on `version` on request.
 */
@Injectable()
export class VaultService {
  private readonly logger = new Logger('VaultService');

  constructor(
    private readonly prisma: PrismaService,
    private readonly publisher: DomainEventPublisher,
    private readonly processor: OutboxProcessor,
  ) {}

  open(
    input: { ownerId: string; name: string; currency: string },
    options: CommandOptions = {},
  ): Promise<VaultOperationResult> {
    const vaultId = uuidv7();
    return this.command('open', vaultId, null, options, async (tx) => {
      const vault = await tx.vault.create({
        data: { id: vaultId, ownerId: input.ownerId, name: input.name, currency: input.currency },
      });
      return {
        vault,
        event: {
          name: 'vault.opened',
          payload: {
            vaultId,
            ownerId: vault.ownerId,
            name: vault.name,
            currency: vault.currency,
            version: vault.version,
          },
        },
      };
    });
  }

  deposit(
    vaultId: string,
    amountMinor: bigint,
    options: CommandOptions = {},
  ): Promise<VaultOperationResult> {
    return this.move('deposit', vaultId, amountMinor, options);
  }

  withdraw(
    vaultId: string,
    amountMinor: bigint,
    options: CommandOptions = {},
  ): Promise<VaultOperationResult> {
    return this.move('withdraw', vaultId, amountMinor, options);
  }

  lock(
    vaultId: string,
    reason: string | undefined,
    options: CommandOptions = {},
  ): Promise<VaultOperationResult> {
    return this.transition(
      'lock',
      vaultId,
      VaultStatus.Open,
      VaultStatus.Locked,
      'vault.locked',
      options,
      reason,
    );
  }

  unlock(vaultId: string, options: CommandOptions = {}): Promise<VaultOperationResult> {
    return this.transition(
      'unlock',
      vaultId,
      VaultStatus.Locked,
      VaultStatus.Open,
      'vault.unlocked',
      options,
    );
  }

  close(vaultId: string, options: CommandOptions = {}): Promise<VaultOperationResult> {
    return this.transition(
      'close',
      vaultId,
      VaultStatus.Open,
      VaultStatus.Closed,
      'vault.closed',
      options,
    );
  }

  async get(vaultId: string): Promise<VaultView> {
    const vault = await this.prisma.vault.findUnique({ where: { id: vaultId } });
    if (!vault) throw new VaultNotFoundError(vaultId);
    return toVaultView(vault);
  }

  /** The vault's outbox events, in publish order, with their delivery status. */
  async events(vaultId: string): Promise<OutboxEventRecord[]> {
    await this.get(vaultId);
    return this.processor.findEventsByAggregate('Vault', vaultId);
  }

  private move(
    kind: 'deposit' | 'withdraw',
    vaultId: string,
    amount: bigint,
    options: CommandOptions,
  ): Promise<VaultOperationResult> {
    if (amount <= 0n) throw new VaultRuleViolationError(`The ${kind} amount must be positive`);
    const delta = kind === 'deposit' ? amount : -amount;
    return this.command(kind, vaultId, amount, options, async (tx, operationId) => {
      // One conditional UPDATE: the row lock serialises concurrent commands, the WHERE enforces
      // the invariants, so parallel deposits and withdrawals never break the balance.
      const update = () =>
        tx.vault.updateMany({
          where: {
            id: vaultId,
            status: VaultStatus.Open,
            ...(options.expectedVersion === undefined ? {} : { version: options.expectedVersion }),
            ...(kind === 'withdraw' ? { balanceMinor: { gte: amount } } : {}),
          },
          data: {
            balanceMinor: { increment: delta },
            version: { increment: 1 },
            updatedAt: new Date(),
          },
        });
      if ((await this.updateLocked(tx, vaultId, update)) === 0) {
        await this.explainRejection(tx, vaultId, kind, options, amount);
      }
      const vault = await tx.vault.findUniqueOrThrow({ where: { id: vaultId } });
      return {
        vault,
        event: {
          name: kind === 'deposit' ? 'vault.deposited' : 'vault.withdrawn',
          payload: {
            vaultId,
            ownerId: vault.ownerId,
            currency: vault.currency,
            operationId,
            amountMinor: amount.toString(),
            balanceMinor: vault.balanceMinor.toString(),
            version: vault.version,
          },
        },
      };
    });
  }

  private transition(
    kind: VaultOperationKind,
    vaultId: string,
    from: VaultStatus,
    to: VaultStatus,
    eventName: 'vault.locked' | 'vault.unlocked' | 'vault.closed',
    options: CommandOptions,
    reason?: string,
  ): Promise<VaultOperationResult> {
    return this.command(kind, vaultId, null, options, async (tx) => {
      const update = () =>
        tx.vault.updateMany({
          where: {
            id: vaultId,
            status: from,
            ...(options.expectedVersion === undefined ? {} : { version: options.expectedVersion }),
            ...(to === VaultStatus.Closed ? { balanceMinor: 0n } : {}),
          },
          data: {
            status: to,
            version: { increment: 1 },
            updatedAt: new Date(),
            ...(to === VaultStatus.Closed ? { closedAt: new Date() } : {}),
          },
        });
      if ((await this.updateLocked(tx, vaultId, update)) === 0) {
        await this.explainRejection(tx, vaultId, kind, options, null, from);
      }
      const vault = await tx.vault.findUniqueOrThrow({ where: { id: vaultId } });
      return {
        vault,
        event: {
          name: eventName,
          payload: {
            vaultId,
            ownerId: vault.ownerId,
            version: vault.version,
            ...(reason ? { reason } : {}),
          },
        },
      };
    });
  }

  /**
   * Runs a conditional update; when it changes nothing, locks the row and tries once more, so
   * that a refusal is judged on a state nobody can change meanwhile (a withdrawal refused for a
   * balance that a concurrent deposit has just raised is retried, not reported as a conflict).
   */
  private async updateLocked(
    tx: Tx,
    vaultId: string,
    update: () => Promise<{ count: number }>,
  ): Promise<number> {
    const first = await update();
    if (first.count > 0) return first.count;
    await tx.$queryRaw`SELECT id FROM vault WHERE id = ${vaultId}::uuid FOR UPDATE`;
    return (await update()).count;
  }

  /** Why a conditional update changed nothing (the row is locked by then); always throws. */
  private async explainRejection(
    tx: Tx,
    vaultId: string,
    kind: VaultOperationKind,
    options: CommandOptions,
    amount: bigint | null,
    requiredStatus: VaultStatus = VaultStatus.Open,
  ): Promise<never> {
    const vault = await tx.vault.findUnique({ where: { id: vaultId } });
    if (!vault) throw new VaultNotFoundError(vaultId);
    if (options.expectedVersion !== undefined && vault.version !== options.expectedVersion) {
      throw new VaultConflictError(
        `Vault ${vaultId} is at version ${vault.version}, not ${options.expectedVersion}`,
      );
    }
    if (vault.status === VaultStatus.Closed)
      throw new VaultConflictError(`Vault ${vaultId} is closed`);
    if (vault.status !== requiredStatus) {
      throw new VaultConflictError(
        `Cannot ${kind} vault ${vaultId}: it is ${vault.status}, must be ${requiredStatus}`,
      );
    }
    if (kind === 'withdraw' && amount !== null && vault.balanceMinor < amount) {
      throw new VaultRuleViolationError(
        `Insufficient balance: vault ${vaultId} holds ${vault.balanceMinor} minor units, cannot withdraw ${amount}`,
      );
    }
    if (kind === 'close' && vault.balanceMinor !== 0n) {
      throw new VaultRuleViolationError(
        `Vault ${vaultId} still holds ${vault.balanceMinor} minor units: withdraw them before closing`,
      );
    }
    throw new VaultConflictError(`Vault ${vaultId} changed concurrently; retry`);
  }

  /**
   * Runs a command in one transaction: replays the stored result for a known idempotency key,
   * otherwise applies the change, records the operation and publishes the event.
   */
  private async command<N extends VaultEventName>(
    kind: VaultOperationKind,
    vaultId: string,
    amount: bigint | null,
    options: CommandOptions,
    body: (tx: Tx, operationId: string) => Promise<CommandOutcome<N>>,
  ): Promise<VaultOperationResult> {
    const key = options.idempotencyKey;
    try {
      return await this.prisma.$transaction(async (tx) => {
        if (key) {
          const stored = await this.replay(tx, key, kind, kind === 'open' ? null : vaultId, amount);
          if (stored) return stored;
        }
        const operationId = uuidv7();
        const { vault, event } = await body(tx, operationId);
        const eventId = await this.publisher.publish(tx, {
          name: event.name,
          aggregateType: 'Vault',
          aggregateId: vault.id,
          payload: event.payload,
          sourceModule: 'vault',
          headers: { actor: vault.ownerId, operationId },
          ...(key ? { idempotencyKey: `vault-op:${key}` } : {}),
        });
        const result: VaultOperationResult = {
          operationId,
          eventId,
          kind,
          vault: toVaultView(vault),
          replayed: false,
        };
        await tx.vaultOperation.create({
          data: {
            id: operationId,
            vaultId: vault.id,
            kind,
            amountMinor: amount,
            idempotencyKey: key ?? null,
            result: result as unknown as Prisma.InputJsonValue,
          },
        });
        return result;
      }, TRANSACTION_OPTIONS);
    } catch (error) {
      // Two requests with one key raced: the loser's insert hit the unique key. Return the winner's.
      if (key && (error as { code?: string }).code === UNIQUE_VIOLATION) {
        const stored = await this.replay(
          this.prisma,
          key,
          kind,
          kind === 'open' ? null : vaultId,
          amount,
        );
        if (stored) return stored;
      }
      throw error;
    }
  }

  private async replay(
    db: Tx,
    key: string,
    kind: VaultOperationKind,
    vaultId: string | null,
    amount: bigint | null,
  ): Promise<VaultOperationResult | undefined> {
    const stored = await db.vaultOperation.findUnique({ where: { idempotencyKey: key } });
    if (!stored) return undefined;
    if (
      stored.kind !== kind ||
      (vaultId !== null && stored.vaultId !== vaultId) ||
      stored.amountMinor !== amount
    ) {
      throw new VaultRuleViolationError(
        `Idempotency-Key ${JSON.stringify(key)} was already used for a different request (${stored.kind} on vault ${stored.vaultId})`,
      );
    }
    this.logger.debug(`Replaying stored result of ${kind} for Idempotency-Key ${key}`);
    return { ...(stored.result as unknown as VaultOperationResult), replayed: true };
  }
}
