import { Inject, Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import { normalizeEvent, type NormalizedEvent } from '../events/event-validation';
import type { PublishEventInput } from '../events/integration-event';
import { uuidv7 } from '../events/uuid';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { OutboxRepository } from './outbox.repository';

/** Events per INSERT statement in `publishMany` (larger batches use several statements). */
export const PUBLISH_CHUNK_SIZE = 1_000;

/**
 * Writes integration events to the outbox inside the caller's transaction, so an event exists
 * if and only if the business write committed. The processor is woken by a NOTIFY that
 * PostgreSQL delivers on commit.
 *
 * ```ts
 * await prisma.$transaction(async (tx) => {
 *   await tx.vault.update({ where: { id }, data: { status: 'locked' } });
 *   await publisher.publish(tx, {
 *     name: 'vault.locked', aggregateType: 'Vault', aggregateId: id, payload: { vaultId: id },
 *   });
 * });
 * ```
 */
@Injectable()
export class DomainEventPublisher {
  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly repository: OutboxRepository,
  ) {}

  /**
   * Publishes one event in the caller's transaction `tx` (a Prisma interactive-transaction
   * client, a Knex transaction, or a pg client inside `BEGIN`, matching the configured adapter).
   *
   * @returns the event id; with an `idempotencyKey` that was already published (same tenant),
   *   the id of the existing event, and nothing new is stored.
   * @throws TransactionRequiredError when `tx` is not a transaction of the configured ORM.
   * @throws InvalidEventError / PayloadTooLargeError for invalid input, before any SQL runs.
   */
  async publish<N extends string>(tx: unknown, event: PublishEventInput<N>): Promise<string> {
    const [id] = await this.publishMany(tx, [event]);
    return id!;
  }

  /**
   * Publishes several events in the caller's transaction with one multi-row INSERT (per
   * {@link PUBLISH_CHUNK_SIZE} events). All are validated before anything is written.
   *
   * @returns the ids, in input order.
   */
  async publishMany(tx: unknown, events: readonly PublishEventInput[]): Promise<string[]> {
    const sql = this.options.database.forTransaction(tx);
    if (!sql) {
      throw new TransactionRequiredError(
        this.options.database.kind,
        'DomainEventPublisher.publish',
        'For an event with no business write, use publishStandalone(event).',
      );
    }
    return this.write(sql, this.normalize(events));
  }

  /**
   * Publishes one event in a transaction of its own. Only for events that accompany **no**
   * business write: an event published this way is not atomic with anything else you do, so a
   * crash between your write and this call loses the event. Prefer {@link publish}.
   */
  async publishStandalone<N extends string>(event: PublishEventInput<N>): Promise<string> {
    const [id] = await this.write(this.options.database.root, this.normalize([event]));
    return id!;
  }

  private normalize(events: readonly PublishEventInput[]): NormalizedEvent[] {
    if (!Array.isArray(events)) throw new TypeError('publishMany expects an array of events');
    const settings = {
      maxPayloadBytes: this.options.outbox.maxPayloadBytes,
      defaultSourceModule: this.options.outbox.defaultSourceModule,
    };
    return events.map((e, i) => normalizeEvent(e, settings, events.length > 1 ? i : undefined));
  }

  private async write(sql: SqlExecutor, events: NormalizedEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    const channel = this.options.notify.enabled ? this.options.notify.channel : null;
    const ids: string[] = [];
    for (let start = 0; start < events.length; start += PUBLISH_CHUNK_SIZE) {
      const chunk = events.slice(start, start + PUBLISH_CHUNK_SIZE);
      ids.push(
        ...(await this.repository.insert(
          sql,
          chunk,
          chunk.map(() => uuidv7()),
          channel,
        )),
      );
    }
    return ids;
  }
}
