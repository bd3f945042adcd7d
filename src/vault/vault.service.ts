import { Injectable, Logger } from '@nestjs/common';
import { Transactional, TransactionHost } from '@nestjs-cls/transactional';
import type { TransactionalAdapterPrisma } from '@nestjs-cls/transactional-adapter-prisma';
import { createHash } from 'node:crypto';
import { PrismaService } from '../database/prisma.service';
import type { Prisma, Vault } from '../generated/prisma/client';
import {
  DomainEventPublisher,
  IntegrationAdminService,
  IntegrationContext,
  uuidv7,
  type EventDeliveries,
  type PublishEventInput,
} from 'nestjs-integration';
import {
  VaultConflictError,
  VaultIdempotencyKeyReusedError,
  VaultNotFoundError,
  VaultRuleViolationError,
} from './vault.errors';
import type { VaultEventName } from './vault.events';
import { MAX_AMOUNT_MINOR, MAX_BALANCE_MINOR, MAX_VAULTS_PER_OWNER } from './vault.limits';
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

/** First key of the advisory lock that serialises the commands opening vaults for one owner. */
const OPEN_LOCK_CLASS = 0x7661; // 'va'

/** What identifies a command for idempotency: who sends it, and its canonical content. */
interface CommandRequest {
  readonly kind: VaultOperationKind;
  /** The vault acted on; `null` when opening (the vault does not exist yet). */
  readonly vaultId: string | null;
  readonly amount: bigint | null;
  /** Every other request field the result depends on (name, currency, reason, …). */
  readonly fields: Readonly<Record<string, string | number | null>>;
}

/** SHA-256 of a request's canonical JSON (sorted field names), stored with its key. */
export function requestFingerprint(ownerId: string, request: CommandRequest): string {
  const fields = Object.fromEntries(
    Object.entries(request.fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
  const canonical = JSON.stringify([
    ownerId,
    request.kind,
    request.vaultId,
    request.amount?.toString() ?? null,
    fields,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

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
    private readonly admin: IntegrationAdminService,
    private readonly txHost: TransactionHost<TransactionalAdapterPrisma>,
    private readonly context: IntegrationContext,
  ) {}

  open(
    input: { ownerId: string; name: string; currency: string },
    options: CommandOptions = {},
  ): Promise<VaultOperationResult> {
    const vaultId = uuidv7();
    const request: CommandRequest = {
      kind: 'open',
      vaultId: null,
      amount: null,
      fields: { name: input.name, currency: input.currency },
    };
    return this.command(
      request,
      options,
      async (tx) => {
        // One owner's openings queue here: the vault count below stays exact, and a retry of an
        // opening still in flight waits for it and then finds its stored result.
        await tx.$queryRaw`SELECT 1 AS locked FROM pg_advisory_xact_lock(${OPEN_LOCK_CLASS}::int, hashtext(${input.ownerId}))`;
        return input.ownerId;
      },
      async (tx) => {
        const count = await tx.vault.count({ where: { ownerId: input.ownerId } });
        if (count >= MAX_VAULTS_PER_OWNER) {
          throw new VaultRuleViolationError(
            `Owner ${JSON.stringify(input.ownerId)} already has ${MAX_VAULTS_PER_OWNER} vaults, the most one owner may open`,
            'ownerId',
          );
        }
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
      },
    );
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
    if (!vault || !this.inTenant(vault)) throw new VaultNotFoundError(vaultId);
    return toVaultView(vault);
  }

  /** The vault's outbox events, in publish order, each with every consumer's delivery. */
  async events(vaultId: string): Promise<EventDeliveries[]> {
    const vault = await this.get(vaultId);
    return this.admin.findEventsByAggregate('Vault', vaultId, { tenantId: vault.ownerId });
  }

  /**
   * The vault's tenant is its owner (its events carry it, so their ordering key is stable).
   * A request that names a tenant (`X-Tenant-Id`) sees only that owner's vaults: another
   * tenant's vault does not exist for it.
   */
  private inTenant(vault: { readonly ownerId: string }): boolean {
    const { tenantId } = this.context.current();
    return tenantId === undefined || tenantId === null || tenantId === vault.ownerId;
  }

  private move(
    kind: 'deposit' | 'withdraw',
    vaultId: string,
    amount: bigint,
    options: CommandOptions,
  ): Promise<VaultOperationResult> {
    if (amount <= 0n || amount > MAX_AMOUNT_MINOR) {
      throw new VaultRuleViolationError(
        `The ${kind} amount must be a positive integer of at most ${MAX_AMOUNT_MINOR} minor units`,
        'amountMinor',
      );
    }
    const delta = kind === 'deposit' ? amount : -amount;
    const request: CommandRequest = {
      kind,
      vaultId,
      amount,
      fields: { expectedVersion: options.expectedVersion ?? null },
    };
    return this.command(request, options, this.lockVault(vaultId), async (tx, operationId) => {
      // One conditional UPDATE: the row lock serialises concurrent commands, the WHERE enforces
      // the invariants, so parallel deposits and withdrawals never break the balance.
      const update = () =>
        tx.vault.updateMany({
          where: {
            id: vaultId,
            status: VaultStatus.Open,
            ...(options.expectedVersion === undefined ? {} : { version: options.expectedVersion }),
            balanceMinor:
              kind === 'withdraw' ? { gte: amount } : { lte: MAX_BALANCE_MINOR - amount },
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
    const request: CommandRequest = {
      kind,
      vaultId,
      amount: null,
      fields: { expectedVersion: options.expectedVersion ?? null, reason: reason ?? null },
    };
    return this.command(request, options, this.lockVault(vaultId), async (tx) => {
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
        'amountMinor',
      );
    }
    if (kind === 'deposit' && amount !== null && vault.balanceMinor + amount > MAX_BALANCE_MINOR) {
      throw new VaultRuleViolationError(
        `Vault ${vaultId} holds ${vault.balanceMinor} minor units: a deposit of ${amount} would pass ` +
          `the most a vault may hold, ${MAX_BALANCE_MINOR}`,
        'amountMinor',
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
   * With an idempotency key, a command first locks the vault's row and reads its owner (the
   * key's scope): a retry of a command still in flight waits for it here, then finds its result.
   */
  private lockVault(vaultId: string): (tx: Tx) => Promise<string> {
    return async (tx) => {
      const rows = await tx.$queryRaw<{ owner_id: string }[]>`
        SELECT owner_id FROM vault WHERE id = ${vaultId}::uuid FOR UPDATE`;
      if (!rows[0]) throw new VaultNotFoundError(vaultId);
      return rows[0].owner_id;
    };
  }

  /**
   * Runs a command in one transaction. With an idempotency key it first takes the lock that
   * serialises the command with its retries (`scope`, which returns the owner the key belongs
   * to), then replays the stored result of that owner's key, or refuses a key already used for
   * another request; otherwise it applies the change, records the operation with the request's
   * fingerprint and publishes the event.
   */
  private async command<N extends VaultEventName>(
    request: CommandRequest,
    options: CommandOptions,
    scope: (tx: Tx) => Promise<string>,
    body: (tx: Tx, operationId: string) => Promise<CommandOutcome<N>>,
  ): Promise<VaultOperationResult> {
    const key = options.idempotencyKey;
    const owner: { id?: string } = {};
    try {
      return await this.commandInTransaction(request, key, owner, scope, body);
    } catch (error) {
      // The same owner's key raced on two locks (e.g. two vaults): the loser's insert hit the
      // unique key. Same request: return the winner's result; another request: refuse it.
      if (key && owner.id !== undefined && (error as { code?: string }).code === UNIQUE_VIOLATION) {
        const fingerprint = requestFingerprint(owner.id, request);
        const stored = await this.replay(this.prisma, owner.id, key, fingerprint, request);
        if (stored) return stored;
      }
      throw error;
    }
  }

  /**
   * The transaction of {@link command}: the business writes, the operation record and the
   * event (`publish(event)` joins this `@Transactional()` transaction) commit together.
   * `owner.id` is set once the idempotency key's scope is known.
   */
  @Transactional<TransactionalAdapterPrisma>(TRANSACTION_OPTIONS)
  private async commandInTransaction<N extends VaultEventName>(
    request: CommandRequest,
    key: string | undefined,
    owner: { id?: string },
    scope: (tx: Tx) => Promise<string>,
    body: (tx: Tx, operationId: string) => Promise<CommandOutcome<N>>,
  ): Promise<VaultOperationResult> {
    const tx: Tx = this.txHost.tx;
    let fingerprint: string | null = null;
    if (key) {
      owner.id = await scope(tx);
      fingerprint = requestFingerprint(owner.id, request);
      const stored = await this.replay(tx, owner.id, key, fingerprint, request);
      if (stored) return stored;
    }
    const operationId = uuidv7();
    const { vault, event } = await body(tx, operationId);
    // Another tenant's vault: rolled back (with the lock and any write) as if absent.
    if (!this.inTenant(vault)) throw new VaultNotFoundError(vault.id);
    // Never null: the vault configures no outbox.shouldEnqueue.
    const eventId = (await this.publisher.publish({
      name: event.name,
      aggregateType: 'Vault',
      aggregateId: vault.id,
      payload: event.payload,
      sourceModule: 'vault',
      tenantId: vault.ownerId,
      headers: { actor: vault.ownerId, operationId },
      ...(key ? { idempotencyKey: outboxIdempotencyKey(vault.ownerId, key) } : {}),
    }))!;
    const result: VaultOperationResult = {
      operationId,
      eventId,
      kind: request.kind,
      vault: toVaultView(vault),
      replayed: false,
    };
    await tx.vaultOperation.create({
      data: {
        id: operationId,
        vaultId: vault.id,
        ownerId: vault.ownerId,
        kind: request.kind,
        amountMinor: request.amount,
        idempotencyKey: key ?? null,
        requestHash: fingerprint,
        result: result as unknown as Prisma.InputJsonValue,
      },
    });
    return result;
  }

  private async replay(
    db: Tx,
    ownerId: string,
    key: string,
    fingerprint: string,
    request: CommandRequest,
  ): Promise<VaultOperationResult | undefined> {
    const stored = await db.vaultOperation.findFirst({
      where: { ownerId, idempotencyKey: key },
    });
    if (!stored) return undefined;
    const same =
      stored.requestHash !== null
        ? stored.requestHash === fingerprint
        : // Rows from before fingerprints: compare what they recorded.
          stored.kind === request.kind &&
          (request.vaultId === null || stored.vaultId === request.vaultId) &&
          stored.amountMinor === request.amount;
    if (!same) throw new VaultIdempotencyKeyReusedError(key);
    this.logger.debug(`Replaying stored result of ${request.kind} for Idempotency-Key ${key}`);
    return { ...(stored.result as unknown as VaultOperationResult), replayed: true };
  }
}

/**
 * The outbox's idempotency key of a vault command: the owner's key, hashed with the owner so
 * two owners' keys never meet and any key fits the outbox's length limit.
 */
function outboxIdempotencyKey(ownerId: string, key: string): string {
  return `vault-op:${createHash('sha256')
    .update(JSON.stringify([ownerId, key]))
    .digest('hex')}`;
}
