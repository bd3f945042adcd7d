import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { describeDatabaseError } from '../database/database-error';
import type { SqlExecutor } from '../database/sql-executor';
import { wakeProcessors } from '../database/wake-up';
import { CommitNotSupportedError } from '../errors/commit-not-supported.error';
import { InvalidEventError } from '../errors/invalid-event.error';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import {
  ACTOR_HEADER,
  normalizeEvent,
  type EventDefaults,
  type NormalizedEvent,
} from '../events/event-validation';
import type { PublishEventInput } from '../events/integration-event';
import { uuidv7 } from '../events/uuid';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { AmbientTransactions } from '../context/ambient-transactions';
import { IntegrationContext, type IntegrationContextValues } from '../context/integration-context';
import { IntegrationTracing } from '../observability/tracing/integration-tracing';
import type { OtelSpan } from '../observability/tracing/otel-api';
import { IntegrationLifecycle } from '../processing/integration-lifecycle';
import { NotifyWindow } from './notify-window';
import { OutboxRepository } from './outbox.repository';

/** Producer spans of one publish call, one per event in input order (tracing active only). */
type ProducerSpans = { span: OtelSpan; correlationId: string | null }[];

/** Events validated for one publish call, and which of them `shouldEnqueue` kept. */
interface PreparedEvents {
  /** Every event, in input order. */
  readonly all: readonly NormalizedEvent[];
  /** The events to write, in input order. */
  readonly kept: readonly NormalizedEvent[];
  /** Per input event: whether it is in `kept`. */
  readonly keep: readonly boolean[];
}

/** Events per INSERT statement in `publishMany` (larger batches use several statements). */
export const PUBLISH_CHUNK_SIZE = 1_000;

/**
 * Writes integration events to the outbox inside the caller's transaction, so an event exists
 * if and only if the business write committed. The processor is woken by a NOTIFY that
 * PostgreSQL delivers on commit (at most one per `notify.windowMs`, see {@link NotifyWindow}).
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
 * With `context.transactional` (see docs/context.md), `publish(event)` and `publishMany(events)`
 * without a transaction join the current `@Transactional()` transaction.
 *
 * What the caller does not set comes from the {@link IntegrationContext} in effect: the
 * tenant, the correlation and causation ids, and the actor (header `actor`). Inside a handler
 * that context is the handled event's: its tenant, its `correlationId` (or, when it had none,
 * its id), and its id as `causationId`. `outbox.enrichMeta` adds headers (the caller's own
 * win) and `outbox.shouldEnqueue` may drop an event (its id comes back `null`). With tracing active,
 * every event gets a PRODUCER span whose W3C `traceparent`/`tracestate` go into its headers,
 * unless the caller set `traceparent` (then the caller's headers are kept as given).
 */
@Injectable()
export class DomainEventPublisher implements OnModuleDestroy {
  private readonly logger = new Logger(DomainEventPublisher.name);
  private readonly notifyWindow: NotifyWindow;
  /** The NOTIFY that closes a window, while it is being sent (waited for at shutdown). */
  private closing: Promise<void> | undefined;
  /** Closing NOTIFYs that failed in a row (logged once per streak). */
  private closeFailures = 0;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly repository: OutboxRepository,
    private readonly lifecycle: IntegrationLifecycle,
    private readonly context: IntegrationContext,
    private readonly ambient: AmbientTransactions,
    private readonly tracing: IntegrationTracing,
  ) {
    const { notify } = options;
    this.notifyWindow = new NotifyWindow(
      notify.enabled ? notify.channel : null,
      notify.windowMs,
      (channel) => this.closeWindow(channel),
    );
  }

  /** Stops the window's closing NOTIFY and waits for one being sent. */
  async onModuleDestroy(): Promise<void> {
    this.notifyWindow.stop();
    await this.closing;
  }

  /**
   * Publishes one event in the current `@Transactional()` transaction (option
   * `context.transactional`, see docs/context.md).
   *
   * @returns the event id (see the two-argument form), `null` when `outbox.shouldEnqueue`
   *   dropped it.
   * @throws AmbientTransactionRequiredError outside any transaction, or without the option.
   */
  publish<N extends string>(event: PublishEventInput<N>): Promise<string | null>;
  /**
   * Publishes one event in the caller's transaction `tx` (a Prisma interactive-transaction
   * client, a Knex transaction, or a pg client inside `BEGIN`, matching the configured adapter).
   *
   * @returns the event id; with an `idempotencyKey` that was already published (same tenant),
   *   the id of the existing event, and nothing new is stored; `null` when
   *   `outbox.shouldEnqueue` dropped it.
   * @throws TransactionRequiredError when `tx` is not a transaction of the configured ORM.
   * @throws InvalidEventError / PayloadTooLargeError for invalid input, before any SQL runs.
   */
  publish<N extends string>(tx: unknown, event: PublishEventInput<N>): Promise<string | null>;
  async publish(
    ...args: [PublishEventInput] | [unknown, PublishEventInput]
  ): Promise<string | null> {
    const [id] =
      args.length === 1
        ? await this.publishMany([args[0]])
        : await this.publishMany(args[0], [args[1]]);
    return id ?? null;
  }

  /**
   * Publishes several events in the current `@Transactional()` transaction (option
   * `context.transactional`); see the two-argument form.
   * @throws AmbientTransactionRequiredError outside any transaction, or without the option.
   */
  publishMany(events: readonly PublishEventInput[]): Promise<(string | null)[]>;
  /**
   * Publishes several events in the caller's transaction with one multi-row INSERT (per
   * {@link PUBLISH_CHUNK_SIZE} events). All are validated before anything is written.
   *
   * @returns the ids, in input order (`null` for events `outbox.shouldEnqueue` dropped).
   */
  publishMany(tx: unknown, events: readonly PublishEventInput[]): Promise<(string | null)[]>;
  async publishMany(
    ...args: [readonly PublishEventInput[]] | [unknown, readonly PublishEventInput[]]
  ): Promise<(string | null)[]> {
    const operation = 'DomainEventPublisher.publish';
    const [tx, events] =
      args.length === 1 ? [this.ambient.current(operation), args[0]] : [args[0], args[1]];
    const sql = this.options.database.forTransaction(tx);
    if (!sql) {
      throw new TransactionRequiredError(
        this.options.database.kind,
        operation,
        'For an event with no business write, use publishStandalone(event).',
      );
    }
    const spans: ProducerSpans | undefined = this.tracing.active ? [] : undefined;
    return this.traced(spans, async () => {
      const prepared = await this.prepare(events, spans);
      const ids = await this.write(sql, prepared.kept);
      this.reportPublished(prepared.kept, false);
      return spread(ids, prepared.keep);
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
  ): Promise<string | null> {
    const [id] = await this.publishManyAndCommit(tx, [event]);
    return id ?? null;
  }

  /**
   * {@link publishAndCommit} for several events: all are validated first; the last INSERT (of
   * {@link PUBLISH_CHUNK_SIZE} events at most) travels with the COMMIT.
   *
   * @returns the ids, in input order (`null` for events `outbox.shouldEnqueue` dropped).
   */
  async publishManyAndCommit(
    tx: unknown,
    events: readonly PublishEventInput[],
  ): Promise<(string | null)[]> {
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
  ): Promise<(string | null)[]> {
    const { database } = this.options;
    const prepared = await this.prepare(events, spans);
    const normalized = prepared.kept;
    // Whole chunks first, in the transaction; the last (possibly partial) chunk with the COMMIT.
    const cut =
      Math.max(0, Math.ceil(normalized.length / PUBLISH_CHUNK_SIZE) - 1) * PUBLISH_CHUNK_SIZE;
    const ids = await this.write(sql, normalized.slice(0, cut));
    const last = normalized.slice(cut);
    if (last.length === 0) {
      await database.commitWith!(tx);
      this.reportPublished(normalized, true);
      return spread(ids, prepared.keep);
    }
    await this.repository.enterTenant(sql);
    const statement = this.repository.insertStatement(
      last,
      last.map(() => uuidv7()),
      this.channel(),
    );
    const inserted = await database.commitWith!<{ id: string }>(tx, statement);
    this.reportPublished(normalized, true);
    // Committed: ids of events skipped on an existing idempotency key are read afterwards.
    return spread(
      [
        ...ids,
        ...(await this.repository.resolveInsertedIds(
          this.repository.committedReader(database.root),
          statement,
          inserted?.rows ?? [],
        )),
      ],
      prepared.keep,
    );
  }

  /**
   * Publishes one event in a transaction of its own. Only for events that accompany **no**
   * business write: an event published this way is not atomic with anything else you do, so a
   * crash between your write and this call loses the event. Prefer {@link publish}.
   */
  async publishStandalone<N extends string>(event: PublishEventInput<N>): Promise<string | null> {
    const spans: ProducerSpans | undefined = this.tracing.active ? [] : undefined;
    const [id] = await this.traced(spans, async () => {
      const prepared = await this.prepare([event], spans);
      const ids = await this.write(this.options.database.root, prepared.kept);
      this.reportPublished(prepared.kept, true);
      return spread(ids, prepared.keep);
    });
    return id ?? null;
  }

  /** Runs `work`, then ends the producer spans in `spans` (with its error when it fails). */
  private async traced(
    spans: ProducerSpans | undefined,
    work: () => Promise<(string | null)[]>,
  ): Promise<(string | null)[]> {
    if (!spans) return work();
    let ids: (string | null)[];
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
   * What an event published here gets when its caller did not set it: correlation, causation
   * and actor from the context, `enrichMeta`'s headers, and the trace context of its producer
   * span (tracing active; the span is added to `spans`).
   */
  private defaultsFor(
    context: IntegrationContextValues,
    spans: ProducerSpans | undefined,
  ): ((input: PublishEventInput) => EventDefaults) | undefined {
    const { enrichMeta } = this.options.outbox;
    const { correlationId, causationId, actor } = context;
    if (!spans && !enrichMeta && !correlationId && !causationId && !actor) return undefined;
    return (input) => {
      const producer = spans && this.tracing.startProducer(input.name);
      if (producer) spans.push({ span: producer.span, correlationId: null });
      const headers: Record<string, string> = { ...producer?.headers };
      if (actor) headers[ACTOR_HEADER] = actor;
      if (enrichMeta) Object.assign(headers, checkedMeta(enrichMeta(input, context)));
      return { correlationId, causationId, headers };
    };
  }

  /**
   * Validates every event (with the context's defaults), then asks `outbox.shouldEnqueue`
   * which to keep. Throws before anything is written.
   */
  private async prepare(
    events: readonly PublishEventInput[],
    spans?: ProducerSpans,
  ): Promise<PreparedEvents> {
    if (!Array.isArray(events)) {
      throw new InvalidEventError(
        'events',
        `must be an array of events (got ${events === null ? 'null' : typeof events}); use publish for one event`,
      );
    }
    const context = this.context.current();
    const settings = {
      maxPayloadBytes: this.options.outbox.maxPayloadBytes,
      defaultSourceModule: this.options.outbox.defaultSourceModule,
      defaultTenantId: context.tenantId,
      defaults: this.defaultsFor(context, spans),
    };
    const all = events.map((e, i) =>
      normalizeEvent(e, settings, events.length > 1 ? i : undefined),
    );
    if (spans) all.forEach((e, i) => (spans[i]!.correlationId = e.correlationId));
    const { shouldEnqueue } = this.options.outbox;
    if (!shouldEnqueue) return { all, kept: all, keep: all.map(() => true) };
    const keep: boolean[] = [];
    for (const event of events) {
      const verdict = await shouldEnqueue(event, context);
      if (typeof verdict !== 'boolean') {
        throw new InvalidEventError(
          'event',
          `outbox.shouldEnqueue must return true or false (got ${String(verdict)})`,
        );
      }
      keep.push(verdict);
    }
    return { all, kept: all.filter((_, i) => keep[i]), keep };
  }

  /** Emits `events.published` for events just written. */
  private reportPublished(events: readonly NormalizedEvent[], committed: boolean): void {
    if (events.length === 0) return;
    this.lifecycle.emit({
      type: 'events.published',
      names: events.map((e) => e.name),
      tenants: events.map((e) => e.tenantId),
      committed,
    });
  }

  /** Sends the NOTIFY that closes a window whose publishes sent none (see {@link NotifyWindow}). */
  private closeWindow(channel: string): void {
    const sent: Promise<void> = wakeProcessors(this.options.database.root, channel).then(
      () => {
        if (this.closeFailures > 0) {
          this.logger.log(
            `The NOTIFY for recent publishes is sent again after ${this.closeFailures} failure(s)`,
          );
        }
        this.closeFailures = 0;
      },
      (error: unknown) => {
        // Once per streak of failures (the database is down: every quiet spell would log).
        if (this.closeFailures++ === 0) {
          this.logger.warn(
            `Could not send the NOTIFY that announces recent publishes (${describeDatabaseError(error)}); the processors' polls pick them up`,
          );
        }
      },
    );
    const tracked = sent.finally(() => {
      if (this.closing === tracked) this.closing = undefined;
    });
    this.closing = tracked;
  }

  /** The channel this publish notifies on, or `null` (NOTIFY off, or inside the window). */
  private channel(): string | null {
    return this.notifyWindow.take();
  }

  private async write(sql: SqlExecutor, events: readonly NormalizedEvent[]): Promise<string[]> {
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

/** The ids of the kept events put back at their input positions, `null` for the dropped. */
function spread(ids: readonly string[], keep: readonly boolean[]): (string | null)[] {
  let next = 0;
  return keep.map((kept) => (kept ? ids[next++]! : null));
}

/** `enrichMeta`'s result, refused (naming the hook) unless an object of string values. */
function checkedMeta(meta: unknown): Record<string, string> {
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) {
    throw new InvalidEventError(
      'headers',
      `outbox.enrichMeta must return an object of string values (got ${Array.isArray(meta) ? 'an array' : String(meta)})`,
    );
  }
  for (const [key, value] of Object.entries(meta)) {
    if (typeof value !== 'string') {
      throw new InvalidEventError(
        `headers.${key}`,
        `outbox.enrichMeta must return string values (got ${typeof value}); convert it, e.g. String(value)`,
      );
    }
  }
  return meta as Record<string, string>;
}
