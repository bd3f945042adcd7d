import { Inject, Injectable, Logger } from '@nestjs/common';
import { wakeProcessors } from '../database/wake-up';
import { EventNotFoundError } from '../errors/event-not-found.error';
import type { OutboxEventRecord } from '../events/integration-event';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import {
  assertPurgeArguments,
  type PurgeArguments,
  type ResolvedIntegrationOptions,
} from '../integration.options';
import {
  checkAggregateQuery,
  checkEventId,
  checkTenant,
  checkText,
  type FindEventsByAggregateOptions,
} from '../outbox/outbox-query.validation';
import { OutboxRepository } from '../outbox/outbox.repository';
import { CorrelationRepository } from '../outbox/correlation.repository';
import {
  checkCorrelationQuery,
  type FindEventsByCorrelationOptions,
} from '../outbox/correlation-query.validation';
import {
  checkReplayFilter,
  type ReplayDeliveriesFilter,
} from '../processing/delivery-query.validation';
import {
  BACKLOG_COUNT_CAP,
  BACKLOG_LOOKAHEAD,
  BacklogSnapshot,
} from '../observability/backlog-snapshot';
import { checkTenantOption } from './admin-filter.validation';
import {
  DeliveryRepository,
  type ConsumerBacklog,
  type ConsumerDeliveryStats,
} from '../processing/delivery.repository';
import type { DeliveryRecord } from '../processing/delivery.types';
import { EventSequencer } from '../processing/event-sequencer.repository';
import { IntegrationTables } from '../database/integration-tables';
import { AdminOperations } from './admin-operations';
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
import { IntegrationContext } from '../context/integration-context';
import { resolveTenant } from '../context/tenant-scope';
import { TenantSession } from '../database/tenant-session';

/** One event with every consumer's delivery of it. */
export interface EventDeliveries {
  /** The event as published (its per-event status columns belong to the per-event model). */
  readonly event: OutboxEventRecord;
  /** One per consumer the event was fanned out to (none until the sequencer saw it). */
  readonly deliveries: readonly DeliveryRecord[];
}

/** The delivery state of the cluster, per consumer. */
export interface DeliveryStats {
  /** Committed events the sequencer has not fanned out yet. */
  readonly unsequenced: number;
  readonly consumers: readonly ConsumerDeliveryStats[];
}

/**
 * Operator queries and actions: find an event with its deliveries, an aggregate's events,
 * statistics per consumer, replay dead letters (one consumer's delivery, one event, or a
 * filter), purge finished events. Reads and writes on its own connection (no transaction handle), never through the
 * processor: services that only look at deliveries inject this, not the processor. A replay
 * sends a NOTIFY so a processor of any instance picks it up at once.
 */
@Injectable()
export class IntegrationAdminService implements IntegrationAdminApi {
  private readonly logger = new Logger('IntegrationAdmin');
  private readonly operations: AdminOperations;

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly deliveries: DeliveryRepository,
    private readonly outbox: OutboxRepository,
    private readonly sequencer: EventSequencer,
    private readonly backlog: BacklogSnapshot,
    tables: IntegrationTables,
    private readonly correlations: CorrelationRepository,
    private readonly context: IntegrationContext,
    private readonly session: TenantSession,
  ) {
    const { notify } = options;
    this.operations = new AdminOperations(options.database.root, {
      tables,
      ...(notify.enabled ? { notifyChannel: notify.channel } : {}),
      logger: this.logger,
      backlog: () => backlog.read(),
      contextTenant: () => context.current().tenantId,
      session,
    });
  }

  /** {@inheritDoc IntegrationAdminApi.listEvents} */
  listEvents(filter?: AdminEventFilter, page?: PageRequest): Promise<Page<AdminEventSummary>> {
    return this.operations.listEvents(filter, page);
  }

  /** {@inheritDoc IntegrationAdminApi.countEvents} */
  countEvents(filter?: AdminEventFilter): Promise<number> {
    return this.operations.countEvents(filter);
  }

  /** {@inheritDoc IntegrationAdminApi.listDeliveries} */
  listDeliveries(
    filter?: AdminDeliveryFilter,
    page?: PageRequest,
  ): Promise<Page<AdminDeliveryView>> {
    return this.operations.listDeliveries(filter, page);
  }

  /** {@inheritDoc IntegrationAdminApi.countDeliveries} */
  countDeliveries(filter?: AdminDeliveryFilter): Promise<number> {
    return this.operations.countDeliveries(filter);
  }

  /** {@inheritDoc IntegrationAdminApi.getEvent} */
  getEvent(eventId: string, options?: TenantOption): Promise<AdminEventDetail | undefined> {
    return this.operations.getEvent(eventId, options);
  }

  /** {@inheritDoc IntegrationAdminApi.replayDelivery} */
  replayDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult> {
    return this.operations.replayDelivery(eventId, consumer, by, options);
  }

  /** {@inheritDoc IntegrationAdminApi.replayEvent} */
  replayEvent(eventId: string, by: AdminActor, options?: TenantOption): Promise<AdminActionResult> {
    return this.operations.replayEvent(eventId, by, options);
  }

  /** {@inheritDoc IntegrationAdminApi.replayDeliveries} */
  replayDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    return this.operations.replayDeliveries(filter, options);
  }

  /** {@inheritDoc IntegrationAdminApi.discardDelivery} */
  discardDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult> {
    return this.operations.discardDelivery(eventId, consumer, by, options);
  }

  /** {@inheritDoc IntegrationAdminApi.discardDeliveries} */
  discardDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    return this.operations.discardDeliveries(filter, options);
  }

  /** {@inheritDoc IntegrationAdminApi.purgeDeadLetters} */
  purgeDeadLetters(
    filter: PurgeDeadLettersFilter,
    options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    return this.operations.purgeDeadLetters(filter, options);
  }

  /** {@inheritDoc IntegrationAdminApi.listAudit} */
  listAudit(page?: PageRequest, options?: TenantOption): Promise<Page<AdminAuditRecord>> {
    return this.operations.listAudit(page, options);
  }

  /** {@inheritDoc IntegrationAdminApi.getOverview} */
  getOverview(options?: OverviewOptions): Promise<AdminOverview> {
    return this.operations.getOverview(options);
  }

  /**
   * Puts the dead-lettered deliveries of one event back to pending (attempts reset): every
   * consumer's, or only `options.consumer`'s. Returns how many. Limited to the tenant of the
   * call (`options.tenantId`, else the context's): another tenant's event is not found.
   * @throws InvalidEventIdError when `eventId` is not a UUID, before any SQL.
   * @throws InvalidQueryError when `options.consumer` is not a short text.
   * @throws EventNotFoundError when no event has this id (in the call's tenant).
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async replay(
    eventId: string,
    options: { consumer?: string; tenantId?: string | null } = {},
  ): Promise<number> {
    checkEventId(eventId);
    const consumer =
      options.consumer === undefined
        ? undefined
        : checkText('replay', 'consumer', options.consumer);
    const explicit =
      options.tenantId === undefined
        ? undefined
        : checkTenant('replay', 'tenantId', options.tenantId);
    const tenant = this.tenant('replay', explicit);
    const event = await this.outbox.findById(this.session.executor(tenant), eventId);
    if (!event || (tenant !== undefined && event.tenantId !== tenant))
      throw new EventNotFoundError(eventId);
    return this.replayChecked({
      eventId,
      ...(consumer === undefined ? {} : { consumer }),
      tenantId: event.tenantId,
    });
  }

  /**
   * Replays the dead-lettered deliveries matching `filter` (oldest position first, at most
   * `filter.limit`); returns how many. Without `tenantId` it covers the context's tenant, or
   * every tenant outside one.
   * @throws InvalidQueryError for an unknown key (naming the closest one) or an invalid value.
   * @throws CrossTenantAccessError when `filter.tenantId` is not the context's tenant.
   */
  async replayDeadLetters(filter: ReplayDeliveriesFilter = {}): Promise<number> {
    return this.replayChecked(filter);
  }

  /**
   * The event and each consumer's delivery of it; `undefined` when no event has this id in the
   * tenant of the call (`options.tenantId`, else the context's, else any).
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async findEvent(eventId: string, options?: TenantOption): Promise<EventDeliveries | undefined> {
    checkEventId(eventId);
    const explicit =
      options?.tenantId === undefined
        ? undefined
        : checkTenant('findEvent', 'tenantId', options.tenantId);
    const tenant = this.tenant('findEvent', explicit);
    const sql = this.session.executor(tenant);
    const event = await this.outbox.findById(sql, eventId);
    if (!event || (tenant !== undefined && event.tenantId !== tenant)) return undefined;
    return { event, deliveries: await this.deliveries.findByEvent(sql, eventId) };
  }

  /**
   * Events of one aggregate of one tenant (`null`: events without a tenant) in publish order,
   * each with every consumer's delivery. The tenant is part of the aggregate's identity:
   * without `options.tenantId` the context's tenant applies, and outside any only events
   * published without a tenant are returned, never another tenant's.
   * @throws InvalidQueryError for an empty or non-string type or id, or an unknown option.
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async findEventsByAggregate(
    aggregateType: string,
    aggregateId: string,
    options: FindEventsByAggregateOptions = {},
  ): Promise<EventDeliveries[]> {
    const query = checkAggregateQuery(aggregateType, aggregateId, options);
    const tenant =
      this.tenant(
        'findEventsByAggregate',
        options.tenantId === undefined ? undefined : query.tenantId,
      ) ?? null;
    const sql = this.session.executor(tenant);
    const events = await this.outbox.findByAggregate(
      sql,
      query.aggregateType,
      query.aggregateId,
      tenant,
    );
    const deliveries = await this.deliveries.findByEvents(
      sql,
      events.map((e) => e.id),
    );
    return events.map((event) => ({
      event,
      deliveries: deliveries.filter((d) => d.eventId === event.id),
    }));
  }

  /**
   * The events of one correlation id (a request and everything its handlers published), in
   * publish order, each with every consumer's delivery; at most `options.limit` (1000 by
   * default). Read through the correlation index. Tenant: `options.tenantId` when given
   * (`null`: events without a tenant), else the tenant of the `IntegrationContext` in effect,
   * else every tenant.
   * @throws InvalidQueryError for an empty or non-string id, an invalid option or an unknown one.
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async findEventsByCorrelation(
    correlationId: string,
    options: FindEventsByCorrelationOptions = {},
  ): Promise<EventDeliveries[]> {
    const query = checkCorrelationQuery(correlationId, options);
    const tenant = this.tenant('findEventsByCorrelation', query.tenantId);
    const sql = this.session.executor(tenant);
    const events = await this.correlations.find(sql, { ...query, tenantId: tenant });
    const deliveries = await this.deliveries.findByEvents(
      sql,
      events.map((e) => e.id),
    );
    return events.map((event) => ({
      event,
      deliveries: deliveries.filter((d) => d.eventId === event.id),
    }));
  }

  /**
   * Deletes finished events older than `olderThanMs` (every delivery processed or skipped, or
   * none), with their deliveries, in batches of `batchSize` (never one unbounded DELETE);
   * returns how many events. Each argument defaults to `processor.purge`. Dead letters and
   * everything still pending stay. Limited to the tenant of the call (`options.tenantId`, else
   * the context's; every tenant outside one).
   * @throws InvalidPurgeOptionsError before any SQL when an argument is invalid.
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async purgeProcessed(options: PurgeArguments & TenantOption = {}): Promise<number> {
    // tenantId is the one key beside the purge arguments (checked with the tenant rules).
    const { tenantId, ...purgeArguments } =
      typeof options === 'object' && options !== null ? options : { tenantId: undefined };
    assertPurgeArguments(
      typeof options === 'object' && options !== null ? purgeArguments : options,
    );
    const explicit =
      tenantId === undefined ? undefined : checkTenant('purgeProcessed', 'tenantId', tenantId);
    const tenant = this.tenant('purgeProcessed', explicit);
    const sql = this.session.executor(tenant);
    const { purge } = this.options.processor;
    const olderThanMs = options.olderThanMs ?? purge.olderThanMs;
    const batchSize = options.batchSize ?? purge.batchSize;
    let total = 0;
    for (;;) {
      const n = await this.outbox.purgeFinishedBatch(sql, olderThanMs, batchSize, tenant);
      total += n;
      if (n < batchSize) break;
    }
    if (total) this.logger.log(`Purged ${total} finished event(s) older than ${olderThanMs} ms`);
    return total;
  }

  /**
   * Every active consumer's unfinished work and dead letters, read cheaply (bounded counts, a
   * snapshot shared with metrics and health checks, at most a couple of seconds old): for
   * dashboards and polling. {@link getStats} counts everything, finished deliveries included.
   * Limited to the tenant of the call (`options.tenantId`, else the context's): a tenant's
   * backlog is read for it, uncached; outside a tenant, every tenant's.
   * @throws InvalidQueryError for an invalid or unknown option.
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async getBacklog(options?: TenantOption): Promise<readonly ConsumerBacklog[]> {
    const tenant = this.tenant('getBacklog', checkTenantOption('getBacklog', options));
    if (tenant === undefined) return this.backlog.read();
    return this.deliveries.backlog(this.session.executor(tenant), {
      cap: BACKLOG_COUNT_CAP,
      lookahead: BACKLOG_LOOKAHEAD,
      tenant,
    });
  }

  /**
   * Deliveries per consumer and status, the oldest due one's age, and what awaits sequencing.
   * Limited to the tenant of the call (`options.tenantId`, else the context's; every tenant
   * outside one).
   * @throws InvalidQueryError for an invalid or unknown option.
   * @throws CrossTenantAccessError when `options.tenantId` is not the context's tenant.
   */
  async getStats(options?: TenantOption): Promise<DeliveryStats> {
    const tenant = this.tenant('getStats', checkTenantOption('getStats', options));
    const sql = this.session.executor(tenant);
    const [unsequenced, consumers] = await Promise.all([
      this.sequencer.pendingCount(sql, tenant),
      this.deliveries.stats(sql, tenant),
    ]);
    return { unsequenced, consumers };
  }

  /** The tenant a call covers: `explicit`, else the context's, else `undefined` (every tenant). */
  private tenant(method: string, explicit: string | null | undefined): string | null | undefined {
    return resolveTenant(method, explicit, this.context.current().tenantId);
  }

  private async replayChecked(filter: unknown): Promise<number> {
    const checked = checkReplayFilter(filter, 'replayDeadLetters');
    const tenant = this.tenant(
      'replayDeadLetters',
      checked.allTenants ? undefined : (checked.tenantId ?? null),
    );
    const root = this.session.executor(tenant);
    const replayed = await this.deliveries.replay(
      root,
      tenant === undefined
        ? { ...checked, allTenants: true }
        : { ...checked, tenantId: tenant, allTenants: false },
    );
    if (replayed.length === 0) return 0;
    const consumers = [...new Set(replayed.map((k) => k.consumer))].sort();
    this.logger.log(
      `Replayed ${replayed.length} dead-lettered deliveries (consumers: ${consumers.join(', ')})`,
    );
    const { notify } = this.options;
    if (notify.enabled) {
      // Wake the processors now rather than at their next poll (a lost NOTIFY costs one poll).
      await wakeProcessors(root, notify.channel).catch(() => undefined);
    }
    return replayed.length;
  }
}
