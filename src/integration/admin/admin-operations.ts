import type { IntegrationTables } from '../database/integration-tables';
import { wakeProcessors } from '../database/wake-up';
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
import { resolveTenant, type ContextTenant } from '../context/tenant-scope';
import type { TenantSession } from '../database/tenant-session';
import type { OutboxEventRecord } from '../events/integration-event';
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
  checkTenantOption,
  type CheckedDeliveryFilter,
  type CheckedEventFilter,
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
  OverviewOptions,
  Page,
  PageRequest,
  PurgeDeadLettersFilter,
  TenantOption,
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
  /**
   * Reads the tenant of the current call chain (the Nest service passes its
   * `IntegrationContext`'s): calls without an explicit `tenantId` are limited to it, calls
   * naming another tenant throw `CrossTenantAccessError`. Omitted: no context (the CLI).
   */
  readonly contextTenant?: ContextTenant;
  /**
   * Sets `nestjs_integration.tenant_id` before the statements of a call limited to a tenant
   * (the `rowLevelSecurity` option). Omitted: statements run on `sql` as they are.
   */
  readonly session?: TenantSession;
}

/** The tenant a call is limited to and the executor its statements run on. */
interface CallScope {
  /** `undefined`: every tenant; `null`: rows without a tenant. */
  readonly tenant: string | null | undefined;
  readonly sql: SqlExecutor;
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
    const { filter: checked, sql } = this.scoped(method, checkEventFilter(method, filter));
    return this.queries.listEvents(sql, checked, checkPage(method, 'events', page));
  }

  /** {@inheritDoc IntegrationAdminApi.countEvents} */
  async countEvents(filter?: AdminEventFilter): Promise<number> {
    const method = 'countEvents';
    const { filter: checked, sql } = this.scoped(method, checkEventFilter(method, filter));
    return this.queries.countEvents(sql, checked);
  }

  /** {@inheritDoc IntegrationAdminApi.listDeliveries} */
  async listDeliveries(
    filter?: AdminDeliveryFilter,
    page?: PageRequest,
  ): Promise<Page<AdminDeliveryView>> {
    const method = 'listDeliveries';
    const { filter: checked, sql } = this.scoped(method, checkDeliveryFilter(method, filter));
    return this.queries.listDeliveries(sql, checked, checkPage(method, 'deliveries', page));
  }

  /** {@inheritDoc IntegrationAdminApi.countDeliveries} */
  async countDeliveries(filter?: AdminDeliveryFilter): Promise<number> {
    const method = 'countDeliveries';
    const { filter: checked, sql } = this.scoped(method, checkDeliveryFilter(method, filter));
    return this.queries.countDeliveries(sql, checked);
  }

  /** {@inheritDoc IntegrationAdminApi.getEvent} */
  async getEvent(eventId: string, options?: TenantOption): Promise<AdminEventDetail | undefined> {
    checkEventId(eventId);
    const { tenant, sql } = this.scope('getEvent', checkTenantOption('getEvent', options));
    const event = await this.findEvent(sql, eventId, tenant);
    if (!event) return undefined;
    const [deliveries, correlated] = await Promise.all([
      this.deliveries.findByEvent(sql, eventId),
      this.queries.correlated(sql, eventId, event.correlationId, tenant),
    ]);
    return { event, deliveries, correlated };
  }

  /** {@inheritDoc IntegrationAdminApi.replayDelivery} */
  async replayDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult> {
    const method = 'replayDelivery';
    const key = checkDeliveryKey(method, eventId, consumer);
    const actor = checkActor(method, by, false);
    return this.changeDelivery(
      'replay',
      key,
      actor,
      this.scope(method, checkTenantOption(method, options)),
    );
  }

  /** {@inheritDoc IntegrationAdminApi.replayEvent} */
  async replayEvent(
    eventId: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult> {
    const method = 'replayEvent';
    checkEventId(eventId);
    const actor = checkActor(method, by, false);
    const { tenant, sql } = this.scope(method, checkTenantOption(method, options));
    await this.requireEvent(sql, eventId, tenant);
    const done = await this.actions.changeOne(
      sql,
      'replay',
      eventId,
      undefined,
      { ...actor, target: { eventId }, tenantId: tenant ?? null },
      { lastError: null, auditEmpty: true },
    );
    // auditEmpty: the statement always returns the audit row.
    return this.finished(sql, 'replay', done!.affected, done!.auditId, actor);
  }

  /** {@inheritDoc IntegrationAdminApi.replayDeliveries} */
  async replayDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    const method = 'replayDeliveries';
    const checked = checkBulkFilter(method, filter);
    return this.bulk(
      'replay',
      this.scoped(method, checked),
      checkBulkOptions(method, options, false),
    );
  }

  /** {@inheritDoc IntegrationAdminApi.discardDelivery} */
  async discardDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult> {
    const method = 'discardDelivery';
    const key = checkDeliveryKey(method, eventId, consumer);
    const actor = checkActor(method, by, true);
    return this.changeDelivery(
      'discard',
      key,
      actor,
      this.scope(method, checkTenantOption(method, options)),
    );
  }

  /** {@inheritDoc IntegrationAdminApi.discardDeliveries} */
  async discardDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    const method = 'discardDeliveries';
    const checked = checkBulkFilter(method, filter);
    return this.bulk(
      'discard',
      this.scoped(method, checked),
      checkBulkOptions(method, options, true),
    );
  }

  /** {@inheritDoc IntegrationAdminApi.purgeDeadLetters} */
  async purgeDeadLetters(
    filter: PurgeDeadLettersFilter,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    const method = 'purgeDeadLetters';
    const { olderThan, consumer, tenantId } = checkPurgeFilter(method, filter);
    const checked = checkBulkOptions(method, options, true);
    const scoped = this.scoped(method, {
      status: DeliveryStatus.DeadLetter,
      to: olderThan,
      ...(consumer === undefined ? {} : { consumer }),
      ...(tenantId === undefined ? {} : { tenantId }),
    });
    const tenant = scoped.filter.tenantId;
    return this.bulk('purge', scoped, checked, {
      olderThan,
      ...(consumer === undefined ? {} : { consumer }),
      ...(tenant === undefined ? {} : { tenantId: tenant }),
    });
  }

  /** {@inheritDoc IntegrationAdminApi.listAudit} */
  async listAudit(page?: PageRequest, options?: TenantOption): Promise<Page<AdminAuditRecord>> {
    const method = 'listAudit';
    const checkedPage = checkPage(method, 'audit', page);
    const { tenant, sql } = this.scope(method, checkTenantOption(method, options));
    return this.audit.list(sql, checkedPage, tenant);
  }

  /** {@inheritDoc IntegrationAdminApi.getOverview} */
  async getOverview(options?: OverviewOptions): Promise<AdminOverview> {
    const method = 'getOverview';
    const { minutes, tenantId } = checkOverviewOptions(method, options);
    const { tenant, sql } = this.scope(method, tenantId);
    const bounds = { cap: BACKLOG_COUNT_CAP, lookahead: BACKLOG_LOOKAHEAD };
    if (tenant !== undefined) {
      // The per-minute stats are kept per consumer, not per tenant: a tenant's overview has its
      // own backlog and no throughput history (other tenants' volumes are not its to see).
      return { backlog: await this.deliveries.backlog(sql, { ...bounds, tenant }), throughput: [] };
    }
    const [backlog, throughput] = await Promise.all([
      this.options.backlog ? this.options.backlog() : this.deliveries.backlog(sql, bounds),
      this.queries.throughput(sql, minutes),
    ]);
    return { backlog, throughput };
  }

  /**
   * The tenant a call covers (see `resolveTenant`: explicit, else the context's, else every
   * tenant) and the executor for it (with the tenant set for row-level security when on).
   * @throws CrossTenantAccessError when `explicit` is another tenant than the context's.
   */
  private scope(method: string, explicit: string | null | undefined): CallScope {
    const tenant = resolveTenant(method, explicit, this.options.contextTenant?.());
    const { session } = this.options;
    return { tenant, sql: session?.enabled ? session.executor(tenant) : this.sql };
  }

  /** {@link scope} for a checked filter: the filter limited to the call's tenant. */
  private scoped<F extends CheckedEventFilter>(
    method: string,
    filter: F,
  ): { readonly filter: F; readonly sql: SqlExecutor } {
    const { tenantId, ...rest } = filter;
    const { tenant, sql } = this.scope(method, tenantId);
    return { filter: (tenant === undefined ? rest : { ...rest, tenantId: tenant }) as F, sql };
  }

  /** The event with this id in `tenant` (`undefined`: any tenant); another tenant's is none. */
  private async findEvent(
    sql: SqlExecutor,
    eventId: string,
    tenant: string | null | undefined,
  ): Promise<OutboxEventRecord | undefined> {
    const event = await this.outbox.findById(sql, eventId);
    return event && (tenant === undefined || event.tenantId === tenant) ? event : undefined;
  }

  private async requireEvent(
    sql: SqlExecutor,
    eventId: string,
    tenant: string | null | undefined,
  ): Promise<void> {
    if (!(await this.findEvent(sql, eventId, tenant))) throw new EventNotFoundError(eventId);
  }

  /** A replay or discard of one delivery, with its audit row; a typed error when it cannot. */
  private async changeDelivery(
    change: 'replay' | 'discard',
    key: { eventId: string; consumer: string },
    actor: CheckedActor,
    { tenant, sql }: CallScope,
  ): Promise<AdminActionResult> {
    // Limited to a tenant: another tenant's event is not found (checked before any change).
    if (tenant !== undefined) await this.requireEvent(sql, key.eventId, tenant);
    const done = await this.actions.changeOne(
      sql,
      change,
      key.eventId,
      key.consumer,
      { ...actor, target: key, tenantId: tenant ?? null },
      { lastError: change === 'discard' ? discarded(actor.reason) : null, auditEmpty: false },
    );
    if (done) return this.finished(sql, change, done.affected, done.auditId, actor);
    // Nothing changed: say why (no audit row was written).
    const statuses = await this.queries.deliveryStatus(sql, key.eventId);
    const status = statuses.get(key.consumer);
    if (status === undefined) {
      if (statuses.size === 0) await this.requireEvent(sql, key.eventId, tenant);
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
    { filter, sql }: { readonly filter: CheckedDeliveryFilter; readonly sql: SqlExecutor },
    options: CheckedBulkOptions,
    target: Readonly<Record<string, unknown>> = withoutStatus(filter),
  ): Promise<AdminActionResult> {
    const action = AUDIT_ACTIONS[change];
    const entry = {
      action,
      actor: options.actor,
      reason: options.reason,
      target,
      tenantId: filter.tenantId ?? null,
    };
    if (options.dryRun) {
      const matching = await this.actions.countUpTo(sql, change, filter, options.limit + 1);
      const affected = Math.min(matching, options.limit);
      const complete = matching <= options.limit;
      const auditId = await this.audit.insert(sql, {
        ...entry,
        affected,
        dryRun: true,
        complete,
      });
      return { action, affected, dryRun: true, complete, auditId };
    }
    const auditId = await this.audit.insert(sql, {
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
      const n = await this.actions.changeBatch(sql, change, filter, size, auditId, lastError);
      affected += n;
      if (n < size) {
        complete = true;
        break;
      }
    }
    if (!complete) complete = (await this.actions.countUpTo(sql, change, filter, 1)) === 0;
    await this.audit.finish(sql, auditId, complete);
    const result = await this.finished(sql, change, affected, auditId, options);
    return { ...result, complete };
  }

  /** The result of an action that ran (not dry); logs it and wakes processors after a replay. */
  private async finished(
    sql: SqlExecutor,
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
        await wakeProcessors(sql, channel).catch(() => undefined);
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
