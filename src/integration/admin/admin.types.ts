import type { OutboxEventRecord } from '../events/integration-event';
import type { ConsumerBacklog } from '../processing/delivery.repository';
import type { DeliveryRecord, DeliveryStatus } from '../processing/delivery.types';

/**
 * Who asks for an admin action and why: written to the audit table with the action. The HTTP
 * module fills `actor` from the request (its guard decides who that is), the CLI from
 * `--actor` or the operating-system user.
 */
export interface AdminActor {
  /** Who: a user name, a token's label, `cli:<os user>`. 1–200 characters. */
  readonly actor: string;
  /** Why, in the operator's words. Required for discard and purge; 1–2000 characters. */
  readonly reason?: string;
}

/** Options of a bulk action (replay, discard or purge of a filtered set). */
export interface BulkActionOptions extends AdminActor {
  /** Count what would change and change nothing (an audit row is still written, marked dry). */
  readonly dryRun?: boolean;
  /**
   * At most this many rows in this call, changed in bounded batches (one short transaction
   * each, never one unbounded statement). Calling again with the same filter resumes: what was
   * done no longer matches. @default 10000
   */
  readonly limit?: number;
}

/**
 * Which events: every given field must match. `tenantId` absent: the tenant of the current
 * `IntegrationContext` (every tenant outside one; see docs/tenancy.md). Time bounds are on the event's `createdAt`
 * (`from` inclusive, `to` exclusive). Unknown keys are refused with `InvalidQueryError`.
 */
export interface AdminEventFilter {
  readonly eventName?: string;
  readonly aggregateType?: string;
  readonly aggregateId?: string;
  /**
   * Only this tenant's events; `null`: only events without a tenant.
   * @default the context's tenant, else every tenant
   */
  readonly tenantId?: string | null;
  readonly correlationId?: string;
  readonly from?: Date;
  readonly to?: Date;
}

/**
 * Which deliveries: the event fields of {@link AdminEventFilter} (time bounds on the
 * delivery's `updatedAt`, i.e. when it reached its status), plus status and consumer.
 */
export interface AdminDeliveryFilter extends AdminEventFilter {
  /** @default DeliveryStatus.DeadLetter */
  readonly status?: DeliveryStatus;
  readonly consumer?: string;
}

/**
 * The tenant of a single-row admin call. Absent: the tenant of the current `IntegrationContext`,
 * or every tenant outside one; `null`: only rows without a tenant. Naming another tenant than
 * the context's throws `CrossTenantAccessError`. An event of another tenant is "not found".
 */
export interface TenantOption {
  readonly tenantId?: string | null;
}

/** What {@link IntegrationAdminApi.getOverview} covers. */
export interface OverviewOptions extends TenantOption {
  /** Minutes of throughput history, 1–1440. @default 60 */
  readonly minutes?: number;
}

/** Keyset pagination: pass the previous page's `nextCursor` as `after`. */
export interface PageRequest {
  /** 1–500. @default 50 */
  readonly limit?: number;
  /** An opaque cursor from a previous page of the same query. */
  readonly after?: string;
}

/** One page of a listing, newest first. */
export interface Page<T> {
  readonly items: readonly T[];
  /** Cursor of the next page; `null` on the last one. */
  readonly nextCursor: string | null;
}

/** An event as listed: everything but the payload and headers. */
export type AdminEventSummary = Omit<OutboxEventRecord, 'payload' | 'headers'>;

/** A delivery as listed, with the fields of its event an operator filters and reads by. */
export interface AdminDeliveryView extends DeliveryRecord {
  readonly eventName: string;
  readonly aggregateType: string;
  readonly aggregateId: string;
  readonly tenantId: string | null;
  readonly correlationId: string | null;
  readonly eventCreatedAt: Date;
}

/** One event in full: payload, headers, every consumer's delivery, and its correlated events. */
export interface AdminEventDetail {
  readonly event: OutboxEventRecord;
  readonly deliveries: readonly DeliveryRecord[];
  /** Other events with the same correlation id (or whose correlation id is this event's id), oldest first, at most 100. */
  readonly correlated: readonly AdminEventSummary[];
}

/** What an admin action did (or, dry, would do). */
export interface AdminActionResult {
  readonly action: AdminActionKind;
  /** Rows changed (dry run: rows that would change). */
  readonly affected: number;
  readonly dryRun: boolean;
  /** False when the bulk limit stopped the action with rows still matching: call again to resume. */
  readonly complete: boolean;
  /** The audit row written for this action. */
  readonly auditId: string;
}

/** The admin actions the audit table records. */
export type AdminActionKind = 'replay' | 'discard' | 'purge-dead-letters';

/** One audit row. */
export interface AdminAuditRecord {
  readonly id: string;
  readonly action: AdminActionKind;
  readonly actor: string;
  readonly reason: string | null;
  /** The filter or the (event, consumer) the action was given, as JSON. */
  readonly target: Readonly<Record<string, unknown>>;
  readonly affected: number;
  readonly dryRun: boolean;
  readonly complete: boolean;
  /** The tenant the action was limited to; `null`: every tenant (or rows without one). */
  readonly tenantId: string | null;
  readonly createdAt: Date;
}

/** Processed, retried and dead-lettered deliveries of one consumer in one minute, cluster-wide. */
export interface ConsumerThroughputPoint {
  readonly consumer: string;
  /** Start of the minute. */
  readonly at: Date;
  readonly processed: number;
  readonly retried: number;
  readonly deadLettered: number;
  /** Mean time from publish to the handler's commit, ms; `null` when nothing was processed. */
  readonly meanLatencyMs: number | null;
  readonly maxLatencyMs: number | null;
}

/** Backlog now and throughput over the last minutes, per consumer (the dashboard's charts). */
export interface AdminOverview {
  readonly backlog: readonly ConsumerBacklog[];
  readonly throughput: readonly ConsumerThroughputPoint[];
}

/**
 * The operator API: the one surface the admin HTTP module, the dashboard and the CLI use.
 * Implemented by `IntegrationAdminService` (Nest) over `AdminOperations` (plain, for the CLI).
 * Every method validates its arguments before any SQL (`InvalidQueryError`, naming the closest
 * known key for a misspelt one); every action writes one audit row.
 */
export interface IntegrationAdminApi {
  listEvents(filter?: AdminEventFilter, page?: PageRequest): Promise<Page<AdminEventSummary>>;
  countEvents(filter?: AdminEventFilter): Promise<number>;
  listDeliveries(
    filter?: AdminDeliveryFilter,
    page?: PageRequest,
  ): Promise<Page<AdminDeliveryView>>;
  countDeliveries(filter?: AdminDeliveryFilter): Promise<number>;
  /** One event in full; `undefined` when none has this id in the tenant of the call. */
  getEvent(eventId: string, options?: TenantOption): Promise<AdminEventDetail | undefined>;
  /** One consumer's dead letter back to pending (attempts reset). */
  replayDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult>;
  /** Every dead-lettered delivery of one event back to pending. */
  replayEvent(eventId: string, by: AdminActor, options?: TenantOption): Promise<AdminActionResult>;
  /** Dead letters matching `filter` (status is always dead_letter) back to pending. */
  replayDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult>;
  /** One pending or dead-lettered delivery marked skipped with the reason (required). */
  discardDelivery(
    eventId: string,
    consumer: string,
    by: AdminActor,
    options?: TenantOption,
  ): Promise<AdminActionResult>;
  discardDeliveries(
    filter: Omit<AdminDeliveryFilter, 'status'>,
    options: BulkActionOptions,
  ): Promise<AdminActionResult>;
  /**
   * Deletes dead letters last changed before `olderThan` (reason required). Only those of events
   * the sequencer has passed in commit order: one the tenant lane fanned out ahead of those runs
   * would be created again when they reach it, so it stays for a later purge.
   */
  purgeDeadLetters(
    filter: PurgeDeadLettersFilter,
    options: BulkActionOptions,
  ): Promise<AdminActionResult>;
  /** Audit rows, newest first: those of the call's tenant when it has one. */
  listAudit(page?: PageRequest, options?: TenantOption): Promise<Page<AdminAuditRecord>>;
  /**
   * Backlog per consumer and throughput per consumer and minute. Limited to the tenant of the
   * call (`options.tenantId`, else the context's; every tenant outside one): a tenant's overview
   * counts its own deliveries and has no throughput history, which is kept per consumer only.
   */
  getOverview(options?: OverviewOptions): Promise<AdminOverview>;
}

/** Which dead letters `purgeDeadLetters` deletes. */
export interface PurgeDeadLettersFilter extends TenantOption {
  /** Last changed before this instant. */
  readonly olderThan: Date;
  readonly consumer?: string;
}
