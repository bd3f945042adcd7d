import { Inject, Injectable, Logger } from '@nestjs/common';
import { InvalidInboxKeyError } from '../errors/invalid-inbox-key.error';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import { unstorableStringReason } from '../events/event-validation';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { errorMessage } from '../utils/describe';
import type { SqlExecutor } from '../database/sql-executor';
import { InboxRepository } from './inbox.repository';
import { ConflictBudget } from '../subscribers/conflict-budget';
import { isCallOptions } from '../utils/call-options';
import { IntegrationContext } from '../context/integration-context';
import { resolveTenant } from '../context/tenant-scope';
import { TenantSession } from '../database/tenant-session';
import type {
  InboxCallOptions,
  InboxKey,
  InboxRecord,
  InboxStatus,
  RunOnceResult,
} from './inbox.types';

function check(
  field: 'eventId' | 'consumer' | 'payloadHash' | 'tenantId',
  value: unknown,
  required: boolean,
): void {
  if (value === undefined || value === null) {
    if (required) throw new InvalidInboxKeyError(field, 'is required');
    return;
  }
  if (typeof value !== 'string' || value.trim() === '')
    throw new InvalidInboxKeyError(field, 'must be a non-empty string');
  if (value.length > 200)
    throw new InvalidInboxKeyError(field, `must be at most 200 characters (got ${value.length})`);
  const reason = unstorableStringReason(value);
  if (reason) throw new InvalidInboxKeyError(field, reason);
}

/**
 * Exactly-once effects per (message, consumer) for messages that do not come from this outbox
 * (a broker, a webhook): the inbox has no foreign key to the outbox. Outbox events need none of
 * this: their delivery row is marked processed in the handler's transaction.
 *
 * ```ts
 * const outcome = await inbox.runOnce({ eventId: message.id, consumer: 'billing' }, async (tx) => {
 *   await tx.invoice.create({ data: ... });   // commits together with the inbox mark
 * });
 * if (!outcome.executed) logger.debug(`already ${outcome.status}`);
 * ```
 */
@Injectable()
export class InboxService<TTx = unknown> {
  private readonly logger = new Logger(InboxService.name);

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions<TTx>,
    private readonly repository: InboxRepository,
    private readonly context: IntegrationContext,
    private readonly session: TenantSession,
  ) {}

  /**
   * In one transaction: marks (eventId, consumer) processed and runs `fn(tx)`; both commit or
   * neither. When the pair is already processed or skipped, `fn` is not run. When `fn` throws,
   * the transaction rolls back, the failure is recorded (attempts, last error) outside it, and
   * the error is rethrown, whatever `fn` threw (`undefined`, `null` and other non-errors too).
   * A deadlock or serialization failure (SQLSTATE 40P01 / 40001) runs the whole transaction
   * again, `fn` included, up to 3 times, with a short pause and a warning, before it counts as
   * a failure. The mark records `key.tenantId`, else the context's tenant.
   * @throws CrossTenantAccessError when `key.tenantId` is not the context's tenant.
   */
  async runOnce<T>(key: InboxKey, fn: (tx: TTx) => Promise<T>): Promise<RunOnceResult<T>> {
    this.validate(key);
    const tenant = this.tenant('runOnce', key.tenantId) ?? null;
    const conflicts = new ConflictBudget(this.logger);
    for (;;) {
      const outcome = await this.runOnceAttempt(key, tenant, fn);
      if ('result' in outcome) return outcome.result;
      // A deadlock or serialization failure: nothing committed, so the whole transaction runs
      // again (fn too), no failure recorded, up to the budget's re-runs.
      if (await conflicts.rerunAfter(outcome.error)) continue;
      if (!outcome.inFn) throw outcome.error;
      await this.markFailed(key.eventId, key.consumer, outcome.error, { tenantId: tenant });
      // What `fn` threw, not the ORM's wrapping of it.
      throw outcome.error;
    }
  }

  /** One transaction of {@link runOnce}: its result, or what failed and whether `fn` threw it. */
  private async runOnceAttempt<T>(
    key: InboxKey,
    tenant: string | null,
    fn: (tx: TTx) => Promise<T>,
  ): Promise<{ result: RunOnceResult<T> } | { error: unknown; inFn: boolean }> {
    // A flag rather than `failure !== undefined`: `fn` may throw undefined, null or any value.
    let failed = false;
    let failure: unknown;
    try {
      const result = await this.options.database.transaction(async (tx, sql) => {
        await this.session.enter(sql, tenant);
        const claimed = await this.repository.claim(
          sql,
          key.eventId,
          key.consumer,
          key.payloadHash ?? null,
          tenant,
        );
        if (!claimed) {
          const existing = await this.repository.find(sql, key.eventId, key.consumer);
          return { executed: false as const, status: existing!.status };
        }
        try {
          return { executed: true as const, result: await fn(tx) };
        } catch (error) {
          failed = true;
          failure = error;
          throw error;
        }
      });
      return { result };
    } catch (error) {
      return failed ? { error: failure, inFn: true } : { error, inFn: false };
    }
  }

  /** True when the consumer has processed (or skipped) the event. */
  isProcessed(eventId: string, consumer: string, options?: InboxCallOptions): Promise<boolean>;
  /** @deprecated Pass the transaction last, in the options: `{ tx }`. */
  isProcessed(eventId: string, consumer: string, tx: unknown): Promise<boolean>;
  async isProcessed(eventId: string, consumer: string, options?: unknown): Promise<boolean> {
    this.validate({ eventId, consumer });
    const o = callOptions(options);
    const tenant = this.tenant('isProcessed', o.tenantId);
    const sql = await this.executor(o.tx, tenant);
    const row = await this.repository.find(sql, eventId, consumer, tenant);
    return row !== undefined && row.status !== 'failed';
  }

  /** Records a failed attempt (attempts + 1, last error), unless already processed or skipped. */
  markFailed(
    eventId: string,
    consumer: string,
    error: unknown,
    options?: InboxCallOptions,
  ): Promise<void>;
  /** @deprecated Pass the transaction last, in the options: `{ tx }`. */
  markFailed(eventId: string, consumer: string, error: unknown, tx: unknown): Promise<void>;
  async markFailed(
    eventId: string,
    consumer: string,
    error: unknown,
    options?: unknown,
  ): Promise<void> {
    this.validate({ eventId, consumer });
    const o = callOptions(options);
    const tenantId = this.tenant('markFailed', o.tenantId) ?? null;
    await this.repository.markFailed(await this.executor(o.tx, tenantId), [
      { eventId, consumer, error: errorMessage(error), tenantId },
    ]);
  }

  /**
   * Marks the event skipped for the consumer (it will not run it), unless already processed.
   * @returns false when the consumer had already processed it.
   */
  markSkipped(
    eventId: string,
    consumer: string,
    options?: InboxCallOptions & { readonly reason?: string },
  ): Promise<boolean>;
  /** @deprecated Pass the reason and the transaction in the options: `{ reason, tx }`. */
  markSkipped(eventId: string, consumer: string, reason?: string, tx?: unknown): Promise<boolean>;
  async markSkipped(
    eventId: string,
    consumer: string,
    reasonOrOptions?: unknown,
    legacyTx?: unknown,
  ): Promise<boolean> {
    this.validate({ eventId, consumer });
    const o =
      legacyTx === undefined && isCallOptions(reasonOrOptions, ['reason', 'tx', 'tenantId'])
        ? reasonOrOptions
        : { reason: reasonOrOptions, tx: legacyTx };
    const reason = typeof o.reason === 'string' ? o.reason : null;
    const tenantId = this.tenant('markSkipped', o.tenantId) ?? null;
    const sql = await this.executor(o.tx, tenantId);
    return this.repository.markSkipped(sql, eventId, consumer, reason, tenantId);
  }

  /** Every consumer's row for an event. */
  findByEvent(eventId: string, options?: InboxCallOptions): Promise<InboxRecord[]>;
  /** @deprecated Pass the transaction last, in the options: `{ tx }`. */
  findByEvent(eventId: string, tx: unknown): Promise<InboxRecord[]>;
  async findByEvent(eventId: string, options?: unknown): Promise<InboxRecord[]> {
    this.validate({ eventId, consumer: 'any' });
    const o = callOptions(options);
    const tenant = this.tenant('findByEvent', o.tenantId);
    return this.repository.findByEvents(await this.executor(o.tx, tenant), [eventId], tenant);
  }

  /** Status of one pair, if any. */
  getStatus(
    eventId: string,
    consumer: string,
    options?: InboxCallOptions,
  ): Promise<InboxStatus | undefined>;
  /** @deprecated Pass the transaction last, in the options: `{ tx }`. */
  getStatus(eventId: string, consumer: string, tx: unknown): Promise<InboxStatus | undefined>;
  async getStatus(
    eventId: string,
    consumer: string,
    options?: unknown,
  ): Promise<InboxStatus | undefined> {
    this.validate({ eventId, consumer });
    const o = callOptions(options);
    const tenant = this.tenant('getStatus', o.tenantId);
    const sql = await this.executor(o.tx, tenant);
    return (await this.repository.find(sql, eventId, consumer, tenant))?.status;
  }

  /**
   * The executor of `tx` (the root client without one), set for `tenant` when the
   * `rowLevelSecurity` option is on.
   */
  private async executor(tx: unknown, tenant: string | null | undefined): Promise<SqlExecutor> {
    if (tx === undefined || tx === null) return this.session.executor(tenant);
    const sql = this.options.database.forTransaction(tx);
    if (!sql) throw new TransactionRequiredError(this.options.database.kind, 'InboxService');
    await this.session.enter(sql, tenant);
    return sql;
  }

  /**
   * The tenant of a call: `given` (validated; `null`: rows without a tenant), else the
   * context's, else `undefined` (finders: every tenant; writes record no tenant).
   */
  private tenant(method: string, given: unknown): string | null | undefined {
    if (given !== undefined && given !== null) check('tenantId', given, false);
    const explicit = given === undefined ? undefined : (given as string | null);
    return resolveTenant(`InboxService.${method}`, explicit, this.context.current().tenantId);
  }

  private validate(key: InboxKey): void {
    if (!key || typeof key !== 'object') throw new InvalidInboxKeyError('eventId', 'is required');
    check('eventId', key.eventId, true);
    check('consumer', key.consumer, true);
    check('payloadHash', key.payloadHash, false);
    check('tenantId', key.tenantId, false);
  }
}

/**
 * The transaction and tenant of a trailing `{ tx, tenantId }` options object, or the handle
 * itself when given positionally (the older call shape).
 */
function callOptions(options: unknown): { readonly tx?: unknown; readonly tenantId?: unknown } {
  return isCallOptions(options, ['tx', 'tenantId']) ? options : { tx: options };
}
