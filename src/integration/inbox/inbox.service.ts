import { Inject, Injectable } from '@nestjs/common';
import { InvalidInboxKeyError } from '../errors/invalid-inbox-key.error';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import { unstorableStringReason } from '../events/event-validation';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { errorMessage } from '../utils/describe';
import type { SqlExecutor } from '../database/sql-executor';
import { InboxRepository } from './inbox.repository';
import { isCallOptions } from '../utils/call-options';
import type {
  InboxCallOptions,
  InboxKey,
  InboxRecord,
  InboxStatus,
  RunOnceResult,
} from './inbox.types';

function check(
  field: 'eventId' | 'consumer' | 'payloadHash',
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
  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions<TTx>,
    private readonly repository: InboxRepository,
  ) {}

  /**
   * In one transaction: marks (eventId, consumer) processed and runs `fn(tx)`; both commit or
   * neither. When the pair is already processed or skipped, `fn` is not run. When `fn` throws,
   * the transaction rolls back, the failure is recorded (attempts, last error) outside it, and
   * the error is rethrown, whatever `fn` threw (`undefined`, `null` and other non-errors too).
   */
  async runOnce<T>(key: InboxKey, fn: (tx: TTx) => Promise<T>): Promise<RunOnceResult<T>> {
    this.validate(key);
    // A flag rather than `failure !== undefined`: `fn` may throw undefined, null or any value.
    let failed = false;
    let failure: unknown;
    try {
      return await this.options.database.transaction(async (tx, sql) => {
        const claimed = await this.repository.claim(
          sql,
          key.eventId,
          key.consumer,
          key.payloadHash ?? null,
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
    } catch (error) {
      if (!failed) throw error;
    }
    await this.markFailed(key.eventId, key.consumer, failure);
    // What `fn` threw, not the ORM's wrapping of it.
    throw failure;
  }

  /** True when the consumer has processed (or skipped) the event. */
  isProcessed(eventId: string, consumer: string, options?: InboxCallOptions): Promise<boolean>;
  /** @deprecated Pass the transaction last, in the options: `{ tx }`. */
  isProcessed(eventId: string, consumer: string, tx: unknown): Promise<boolean>;
  async isProcessed(eventId: string, consumer: string, options?: unknown): Promise<boolean> {
    this.validate({ eventId, consumer });
    const row = await this.repository.find(this.executor(txOf(options)), eventId, consumer);
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
    await this.repository.markFailed(this.executor(txOf(options)), [
      { eventId, consumer, error: errorMessage(error) },
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
      legacyTx === undefined && isCallOptions(reasonOrOptions, ['reason', 'tx'])
        ? reasonOrOptions
        : { reason: reasonOrOptions, tx: legacyTx };
    const reason = typeof o.reason === 'string' ? o.reason : null;
    return this.repository.markSkipped(this.executor(o.tx), eventId, consumer, reason);
  }

  /** Every consumer's row for an event. */
  findByEvent(eventId: string, options?: InboxCallOptions): Promise<InboxRecord[]>;
  /** @deprecated Pass the transaction last, in the options: `{ tx }`. */
  findByEvent(eventId: string, tx: unknown): Promise<InboxRecord[]>;
  async findByEvent(eventId: string, options?: unknown): Promise<InboxRecord[]> {
    this.validate({ eventId, consumer: 'any' });
    return this.repository.findByEvents(this.executor(txOf(options)), [eventId]);
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
    return (await this.repository.find(this.executor(txOf(options)), eventId, consumer))?.status;
  }

  private executor(tx: unknown): SqlExecutor {
    if (tx === undefined || tx === null) return this.options.database.root;
    const sql = this.options.database.forTransaction(tx);
    if (!sql) throw new TransactionRequiredError(this.options.database.kind, 'InboxService');
    return sql;
  }

  private validate(key: InboxKey): void {
    if (!key || typeof key !== 'object') throw new InvalidInboxKeyError('eventId', 'is required');
    check('eventId', key.eventId, true);
    check('consumer', key.consumer, true);
    check('payloadHash', key.payloadHash, false);
  }
}

/**
 * The transaction of a trailing `{ tx }` options object, or the handle itself when given
 * positionally (the older call shape).
 */
function txOf(options: unknown): unknown {
  return isCallOptions(options, ['tx']) ? options.tx : options;
}
