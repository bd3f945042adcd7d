import { Inject, Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import { CommitNotSupportedError } from '../errors/commit-not-supported.error';
import { InvalidEventError } from '../errors/invalid-event.error';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import {
  normalizeEvent,
  type EventDefaults,
  type NormalizedEvent,
} from '../events/event-validation';
import type { PublishEventInput } from '../events/integration-event';
import { uuidv7 } from '../events/uuid';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { HandlerScope } from '../observability/tracing/handler-scope';
import { IntegrationTracing } from '../observability/tracing/integration-tracing';
import type { OtelSpan } from '../observability/tracing/otel-api';
import { IntegrationLifecycle } from '../processing/integration-lifecycle';
import { OutboxRepository } from './outbox.repository';

/** Producer spans of one publish call, one per event in input order (tracing active only). */
type ProducerSpans = { span: OtelSpan; correlationId: string | null }[];

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
 *
 * Published from inside a handler (its async call chain), an event gets by default the handled
 * event's id as `causationId` and the handled event's `correlationId` (or, when it had none,
 * its id) as `correlationId`; each only when the caller did not set it. With tracing active,
 * every event gets a PRODUCER span whose W3C `traceparent`/`tracestate` go into its headers,
 * unless the caller set `traceparent` (then the caller's headers are kept as given).
 */
@Injectable()
export class DomainEventPublisher {
  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly repository: OutboxRepository,
    private readonly lifecycle: IntegrationLifecycle,
    private readonly scope: HandlerScope,
    private readonly tracing: IntegrationTracing,
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
    const spans: ProducerSpans | undefined = this.tracing.active ? [] : undefined;
    return this.traced(spans, async () => {
      const normalized = this.normalize(events, spans);
      const ids = await this.write(sql, normalized);
      this.reportPublished(normalized, false);
      return ids;
    });
  }

  /**
   * Publishes one event in the caller's pg transaction `tx` **and commits it**: the outbox
   * INSERT and the COMMIT go out back to back, so on a pg client created with
   * `pipeline: true` (pg 8.23+) the event costs no round trip of its own. Use it in place of
   * `publish(…)` followed by `COMMIT`:
   *
   * ```ts
   * const client = await pool.connect(); // new Pool({ ..., pipeline: true })
   * try {
   *   await client.query('BEGIN');
   *   await client.query('UPDATE vault SET status = $2 WHERE id = $1', [id, 'locked']);
   *   await publisher.publishAndCommit(client, {
   *     name: 'vault.locked', aggregateType: 'Vault', aggregateId: id, payload: { vaultId: id },
   *   });
   * } catch (error) {
   *   await client.query('ROLLBACK'); // a no-op when publishAndCommit already rolled back
   *   throw error;
   * } finally {
   *   client.release();
   * }
   * ```
   *
   * Invalid input throws before anything is sent, with the transaction still open. Once sent,
   * either both the business writes and the event commit, or neither does: when the INSERT or
   * the COMMIT fails, the transaction is rolled back and the error is thrown.
   *
   * @returns the event id (the existing event's id for an idempotency key already published).
   * @throws CommitNotSupportedError with adapters that cannot commit the caller's transaction
   *   (Prisma, Knex: use {@link publish} inside their transaction).
   * @throws TransactionRequiredError when `tx` is not a pg client inside `BEGIN`.
   */
  async publishAndCommit<N extends string>(
    tx: unknown,
    event: PublishEventInput<N>,
  ): Promise<string> {
    const [id] = await this.publishManyAndCommit(tx, [event]);
    return id!;
  }

  /**
   * {@link publishAndCommit} for several events: all are validated first; the last INSERT (of
   * {@link PUBLISH_CHUNK_SIZE} events at most) travels with the COMMIT.
   *
   * @returns the ids, in input order.
   */
  async publishManyAndCommit(tx: unknown, events: readonly PublishEventInput[]): Promise<string[]> {
    const operation = 'DomainEventPublisher.publishAndCommit';
    const { database } = this.options;
    const sql = database.forTransaction(tx);
    if (!sql) throw new TransactionRequiredError(database.kind, operation);
    if (!database.commitWith) throw new CommitNotSupportedError(database.kind, operation);
    const spans: ProducerSpans | undefined = this.tracing.active ? [] : undefined;
    return this.traced(spans, () => this.writeAndCommit(tx, sql, events, spans));
  }

  private async writeAndCommit(
    tx: unknown,
    sql: SqlExecutor,
    events: readonly PublishEventInput[],
    spans: ProducerSpans | undefined,
  ): Promise<string[]> {
    const { database } = this.options;
    const normalized = this.normalize(events, spans);
    // Whole chunks first, in the transaction; the last (possibly partial) chunk with the COMMIT.
    const cut =
      Math.max(0, Math.ceil(normalized.length / PUBLISH_CHUNK_SIZE) - 1) * PUBLISH_CHUNK_SIZE;
    const ids = await this.write(sql, normalized.slice(0, cut));
    const last = normalized.slice(cut);
    if (last.length === 0) {
      await database.commitWith!(tx);
      this.reportPublished(normalized, true);
      return ids;
    }
    const statement = this.repository.insertStatement(
      last,
      last.map(() => uuidv7()),
      this.channel(),
    );
    const inserted = await database.commitWith!<{ id: string }>(tx, statement);
    this.reportPublished(normalized, true);
    // Committed: ids of events skipped on an existing idempotency key are read afterwards.
    return [
      ...ids,
      ...(await this.repository.resolveInsertedIds(database.root, statement, inserted?.rows ?? [])),
    ];
  }

  /**
   * Publishes one event in a transaction of its own. Only for events that accompany **no**
   * business write: an event published this way is not atomic with anything else you do, so a
   * crash between your write and this call loses the event. Prefer {@link publish}.
   */
  async publishStandalone<N extends string>(event: PublishEventInput<N>): Promise<string> {
    const spans: ProducerSpans | undefined = this.tracing.active ? [] : undefined;
    const [id] = await this.traced(spans, async () => {
      const normalized = this.normalize([event], spans);
      const ids = await this.write(this.options.database.root, normalized);
      this.reportPublished(normalized, true);
      return ids;
    });
    return id!;
  }

  /** Runs `work`, then ends the producer spans in `spans` (with its error when it fails). */
  private async traced(
    spans: ProducerSpans | undefined,
    work: () => Promise<string[]>,
  ): Promise<string[]> {
    if (!spans) return work();
    let ids: string[];
    try {
      ids = await work();
    } catch (error) {
      this.tracing.endProducers(spans, undefined, error);
      throw error;
    }
    this.tracing.endProducers(spans, ids);
    return ids;
  }

  /**
   * What an event published here gets when its caller did not set it: causation and
   * correlation from the handled event (inside a handler), and the trace context of its
   * producer span (tracing active; the span is added to `spans`).
   */
  private defaultsFor(
    spans: ProducerSpans | undefined,
  ): ((name: string) => EventDefaults | undefined) | undefined {
    const handled = this.scope.current();
    if (!handled && !spans) return undefined;
    const correlationId = handled ? (handled.correlationId ?? handled.eventId) : null;
    const causationId = handled ? handled.eventId : null;
    return (name) => {
      const producer = spans && this.tracing.startProducer(name);
      if (producer) spans.push({ span: producer.span, correlationId: null });
      return { correlationId, causationId, headers: producer?.headers };
    };
  }

  private normalize(
    events: readonly PublishEventInput[],
    spans?: ProducerSpans,
  ): NormalizedEvent[] {
    if (!Array.isArray(events)) {
      throw new InvalidEventError(
        'events',
        `must be an array of events (got ${events === null ? 'null' : typeof events}); use publish for one event`,
      );
    }
    const settings = {
      maxPayloadBytes: this.options.outbox.maxPayloadBytes,
      defaultSourceModule: this.options.outbox.defaultSourceModule,
      defaults: this.defaultsFor(spans),
    };
    const normalized = events.map((e, i) =>
      normalizeEvent(e, settings, events.length > 1 ? i : undefined),
    );
    if (spans) normalized.forEach((e, i) => (spans[i]!.correlationId = e.correlationId));
    return normalized;
  }

  /** Emits `events.published` for events just written. */
  private reportPublished(events: readonly NormalizedEvent[], committed: boolean): void {
    if (events.length === 0) return;
    this.lifecycle.emit({ type: 'events.published', names: events.map((e) => e.name), committed });
  }

  private channel(): string | null {
    return this.options.notify.enabled ? this.options.notify.channel : null;
  }

  private async write(sql: SqlExecutor, events: NormalizedEvent[]): Promise<string[]> {
    if (events.length === 0) return [];
    const channel = this.channel();
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
