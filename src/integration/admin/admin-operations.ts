import type { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import { truncateError } from '../database/stored-values';
import { DeliveryNotFoundError } from '../errors/delivery-not-found.error';
import { EventNotFoundError } from '../errors/event-not-found.error';
import { InvalidDeliveryStateError } from '../errors/invalid-delivery-state.error';
import { checkEventId } from '../outbox/outbox-query.validation';
import { OutboxRepository } from '../outbox/outbox.repository';
import { BACKLOG_COUNT_CAP, BACKLOG_LOOKAHEAD } from '../observability/backlog-snapshot';
import { DeliveryRepository, type ConsumerBacklog } from '../processing/delivery.repository';
import { DeliveryStatus } from '../processing/delivery.types';
import { closestMatch } from '../utils/closest-match';
import {
  ADMIN_BATCH_SIZE,
  AUDIT_ACTIONS,
  AdminActionRepository,
  type DeliveryChange,
} from './admin-action.repository';
import {
  checkActor,
  checkBulkFilter,
  checkBulkOptions,
  checkDeliveryFilter,
  checkDeliveryKey,
  checkEventFilter,
  checkOverviewOptions,
  checkPage,
  checkPurgeFilter,
  type CheckedActor,
  type CheckedBulkOptions,
  type CheckedDeliveryFilter,
} from './admin-filter.validation';
import { AdminQueryRepository } from './admin-query.repository';
import type {
  AdminActionResult,
  AdminActor,
  AdminAuditRecord,
  AdminDeliveryFilter,
  AdminDeliveryView,
  AdminEventDetail,
  AdminEventFilter,
  AdminEventSummary,
  AdminOverview,
  BulkActionOptions,
  IntegrationAdminApi,
  Page,
  PageRequest,
} from './admin.types';
import { AuditRepository } from './audit.repository';

/** Settings of {@link AdminOperations}. */
export interface AdminOperationsOptions {
  /** Schema-qualified table names. */
  readonly tables: IntegrationTables;
  /** `pg_notify` on this channel after a replay, so processors pick it up now (omit: no NOTIFY). */
  readonly notifyChannel?: string;
  /** Where actions are logged (one line per action that changed rows). */
  readonly logger?: { log(message: string): void };
  /**
   * Reads the backlog per consumer (the Nest service passes its shared `BacklogSnapshot`);
   * omitted: read with bounded counts on each `getOverview`.
   */
  readonly backlog?: () => Promise<readonly ConsumerBacklog[]>;
}

const PAST: Readonly<Record<DeliveryChange, string>> = {
  replay: 'Replayed',
  discard: 'Discarded',
  purge: 'Purged',
};

/** The last error a discard records. */
const discarded = (reason: string | null): string => truncateError(`discarded: ${reason ?? ''}`);

/**
 * The operator API over one {@link SqlExecutor}, with no Nest container: what
 * `IntegrationAdminService` delegates to and what the CLI builds on its own connection.
 * Every argument is checked before any SQL; every action writes one audit row; a replay that
 * changed rows sends a NOTIFY on `notifyChannel` so processors of every instance pick it up.
 */
export class AdminOperations implements IntegrationAdminApi {
  private readonly queries: AdminQueryRepository;
  private readonly actions: AdminActionRepository;
  private readonly audit: AuditRepository;
  private readonly outbox: OutboxRepository;
  private readonly deliveries: DeliveryRepository;

  /**
   * @param sql Runs each statement (a pool or a root client: statements are not run in one
   * transaction; each batch of a bulk action is its own).
   */
  constructor(
    private readonly sql: SqlExecutor,
    private readonly options: AdminOperationsOptions,
  ) {
    const { tables } = options;
    this.queries = new AdminQueryRepository(tables);
    this.actions = new AdminActionRepository(tables);
    this.audit = new AuditRepository(tables);
    this.outbox = new OutboxRepository(tables);
    this.deliveries = new DeliveryRepository(tables);
  }

  /** {@inheritDoc IntegrationAdminApi.listEvents} */
  async listEvents(
    filter?: AdminEventFilter,
    page?: PageRequest,
  ): Promise<Page<AdminEventSummary>> {
    const method = 'listEvents';
    const checked = checkEventFilter(method, filter);
    return this.queries.listEvents(this.sql, checked, checkPage(method, 'events', page));
  }

  /** {@inheritDoc IntegrationAdminApi.countEvents} */
  async countEvents(filter?: AdminEventFilter): Promise<number> {
    return this.queries.countEvents(this.sql, checkEventFilter('countEvents', filter));
  }

  /** {@inheritDoc IntegrationAdminApi.listDeliveries} */
  async listDeliveries(
    filter?: AdminDeliveryFilter,
    page?: PageRequest,
  ): Promise<Page<AdminDeliveryView>> {
    const method = 'listDeliveries';
    const checked = checkDeliveryFilter(method, filter);
    return this.queries.listDeliveries(this.sql, checked, checkPage(method, 'deliveries', page));
  }

  /** {@inheritDoc IntegrationAdminApi.countDeliveries} */
  async countDeliveries(filter?: AdminDeliveryFilter): Promise<number> {
    return this.queries.countDeliveries(this.sql, checkDeliveryFilter('countDeliveries', filter));
  }

  /** {@inheritDoc IntegrationAdminApi.getEvent} */
  async getEvent(eventId: string): Promise<AdminEventDetail | undefined> {
    checkEventId(eventId);
    const event = await this.outbox.findById(this.sql, eventId);
    if (!event) return undefined;
    const [deliveries, correlated] = await Promise.all([
      this.deliveries.findByEvent(this.sql, eventId),
      this.queries.correlated(this.sql, eventId, event.correlationId),
    ]);
    return { event, deliveries, correlated };
  }

  /** {@inheritDoc IntegrationAdminApi.replayDelivery} */
  async replayDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
  ): Promise<AdminActionResult> {
    const method = 'replayDelivery';
    const key = checkDeliveryKey(method, eventId, consumer);
    return this.changeDelivery('replay', key, checkActor(method, by, false));
  }

  /** {@inheritDoc IntegrationAdminApi.replayEvent} */
  async replayEvent(eventId: string, by: AdminActor): Promise<AdminActionResult> {
    checkEventId(eventId);
    const actor = checkActor('replayEvent', by, false);
    await this.requireEvent(eventId);
    const done = await this.actions.changeOne(
      this.sql,
      'replay',
      eventId,
      undefined,
      { ...actor, target: { eventId } },
      { lastError: null, auditEmpty: true },
    );
    // auditEmpty: the statement always returns the audit row.
    return this.finished('replay', done!.affected, done!.auditId, actor);
  }

  /** {@inheritDoc IntegrationAdminApi.replayDeliveries} */
  async replayDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    const method = 'replayDeliveries';
    const checked = checkBulkFilter(method, filter);
    return this.bulk('replay', checked, checkBulkOptions(method, options, false));
  }

  /** {@inheritDoc IntegrationAdminApi.discardDelivery} */
  async discardDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
  ): Promise<AdminActionResult> {
    const method = 'discardDelivery';
    const key = checkDeliveryKey(method, eventId, consumer);
    return this.changeDelivery('discard', key, checkActor(method, by, true));
  }

  /** {@inheritDoc IntegrationAdminApi.discardDeliveries} */
  async discardDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    const method = 'discardDeliveries';
    const checked = checkBulkFilter(method, filter);
    return this.bulk('discard', checked, checkBulkOptions(method, options, true));
  }

  /** {@inheritDoc IntegrationAdminApi.purgeDeadLetters} */
  async purgeDeadLetters(
    filter: { readonly olderThan: Date; readonly consumer?: string },
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    const method = 'purgeDeadLetters';
    const { olderThan, consumer } = checkPurgeFilter(method, filter);
    const checked = checkBulkOptions(method, options, true);
    return this.bulk(
      'purge',
      {
        status: DeliveryStatus.DeadLetter,
        to: olderThan,
        ...(consumer === undefined ? {} : { consumer }),
      },
      checked,
      { olderThan, ...(consumer === undefined ? {} : { consumer }) },
    );
  }

  /** {@inheritDoc IntegrationAdminApi.listAudit} */
  async listAudit(page?: PageRequest): Promise<Page<AdminAuditRecord>> {
    return this.audit.list(this.sql, checkPage('listAudit', 'audit', page));
  }

  /** {@inheritDoc IntegrationAdminApi.getOverview} */
  async getOverview(options?: { readonly minutes?: number }): Promise<AdminOverview> {
    const { minutes } = checkOverviewOptions('getOverview', options);
    const [backlog, throughput] = await Promise.all([
      this.options.backlog
        ? this.options.backlog()
        : this.deliveries.backlog(this.sql, {
            cap: BACKLOG_COUNT_CAP,
            lookahead: BACKLOG_LOOKAHEAD,
          }),
      this.queries.throughput(this.sql, minutes),
    ]);
    return { backlog, throughput };
  }

  private async requireEvent(eventId: string): Promise<void> {
    if (!(await this.outbox.findById(this.sql, eventId))) throw new EventNotFoundError(eventId);
  }

  /** A replay or discard of one delivery, with its audit row; a typed error when it cannot. */
  private async changeDelivery(
    change: 'replay' | 'discard',
    key: { eventId: string; consumer: string },
    actor: CheckedActor,
  ): Promise<AdminActionResult> {
    const done = await this.actions.changeOne(
      this.sql,
      change,
      key.eventId,
      key.consumer,
      { ...actor, target: key },
      { lastError: change === 'discard' ? discarded(actor.reason) : null, auditEmpty: false },
    );
    if (done) return this.finished(change, done.affected, done.auditId, actor);
    // Nothing changed: say why (no audit row was written).
    const statuses = await this.queries.deliveryStatus(this.sql, key.eventId);
    const status = statuses.get(key.consumer);
    if (status === undefined) {
      if (statuses.size === 0) await this.requireEvent(key.eventId);
      const consumers = [...statuses.keys()].sort();
      throw new DeliveryNotFoundError(
        key.eventId,
        key.consumer,
        consumers,
        closestMatch(key.consumer, consumers),
      );
    }
    throw new InvalidDeliveryStateError(
      key.eventId,
      key.consumer,
      change,
      status,
      change === 'replay' ? ['dead_letter'] : ['pending', 'dead_letter'],
    );
  }

  /**
   * A bulk action: at most `options.limit` deliveries matching `filter`, in batches of
   * {@link ADMIN_BATCH_SIZE}, counted into one audit row written first. A dry run only counts.
   */
  private async bulk(
    change: DeliveryChange,
    filter: CheckedDeliveryFilter,
    options: CheckedBulkOptions,
    target: Readonly<Record<string, unknown>> = withoutStatus(filter),
  ): Promise<AdminActionResult> {
    const action = AUDIT_ACTIONS[change];
    const entry = { action, actor: options.actor, reason: options.reason, target };
    if (options.dryRun) {
      const matching = await this.actions.countUpTo(this.sql, filter, options.limit + 1);
      const affected = Math.min(matching, options.limit);
      const complete = matching <= options.limit;
      const auditId = await this.audit.insert(this.sql, {
        ...entry,
        affected,
        dryRun: true,
        complete,
      });
      return { action, affected, dryRun: true, complete, auditId };
    }
    const auditId = await this.audit.insert(this.sql, {
      ...entry,
      affected: 0,
      dryRun: false,
      complete: false,
    });
    const lastError = change === 'discard' ? discarded(options.reason) : null;
    let affected = 0;
    let complete = false;
    while (affected < options.limit) {
      const size = Math.min(ADMIN_BATCH_SIZE, options.limit - affected);
      const n = await this.actions.changeBatch(this.sql, change, filter, size, auditId, lastError);
      affected += n;
      if (n < size) {
        complete = true;
        break;
      }
    }
    if (!complete) complete = (await this.actions.countUpTo(this.sql, filter, 1)) === 0;
    await this.audit.finish(this.sql, auditId, complete);
    const result = await this.finished(change, affected, auditId, options);
    return { ...result, complete };
  }

  /** The result of an action that ran (not dry); logs it and wakes processors after a replay. */
  private async finished(
    change: DeliveryChange,
    affected: number,
    auditId: string,
    actor: CheckedActor,
  ): Promise<AdminActionResult> {
    if (affected > 0) {
      this.options.logger?.log(
        `${PAST[change]} ${affected} deliver${affected === 1 ? 'y' : 'ies'} ` +
          `(actor "${actor.actor}", audit #${auditId})`,
      );
      const channel = this.options.notifyChannel;
      if (change === 'replay' && channel !== undefined) {
        // Wake the processors now rather than at their next poll (a lost NOTIFY costs one poll).
        await this.sql
          .query('SELECT pg_notify($1::text, $2::text)', [channel, ''])
          .catch(() => undefined);
      }
    }
    return { action: AUDIT_ACTIONS[change], affected, dryRun: false, complete: true, auditId };
  }
}

/** A bulk filter as the audit row records it (its status is implied by the action). */
function withoutStatus(filter: CheckedDeliveryFilter): Record<string, unknown> {
  const { status: _status, ...rest } = filter;
  return rest;
}
