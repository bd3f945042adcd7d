import type { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import type { ConsumerBacklog } from '../processing/delivery.repository';
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

const notImplemented = (): never => {
  throw new Error('not implemented');
};

/**
 * The operator API over one {@link SqlExecutor}, with no Nest container: what
 * `IntegrationAdminService` delegates to and what the CLI builds on its own connection.
 */
export class AdminOperations implements IntegrationAdminApi {
  constructor(
    protected readonly sql: SqlExecutor,
    protected readonly options: AdminOperationsOptions,
  ) {}

  async listEvents(
    _filter?: AdminEventFilter,
    _page?: PageRequest,
  ): Promise<Page<AdminEventSummary>> {
    return notImplemented();
  }

  async countEvents(_filter?: AdminEventFilter): Promise<number> {
    return notImplemented();
  }

  async listDeliveries(
    _filter?: AdminDeliveryFilter,
    _page?: PageRequest,
  ): Promise<Page<AdminDeliveryView>> {
    return notImplemented();
  }

  async countDeliveries(_filter?: AdminDeliveryFilter): Promise<number> {
    return notImplemented();
  }

  async getEvent(_eventId: string): Promise<AdminEventDetail | undefined> {
    return notImplemented();
  }

  async replayDelivery(
    _eventId: string,
    _consumer: string,
    _by: AdminActor,
  ): Promise<AdminActionResult> {
    return notImplemented();
  }

  async replayEvent(_eventId: string, _by: AdminActor): Promise<AdminActionResult> {
    return notImplemented();
  }

  async replayDeliveries(
    _filter: Omit<AdminDeliveryFilter, 'status'>,
    _options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    return notImplemented();
  }

  async discardDelivery(
    _eventId: string,
    _consumer: string,
    _by: AdminActor,
  ): Promise<AdminActionResult> {
    return notImplemented();
  }

  async discardDeliveries(
    _filter: Omit<AdminDeliveryFilter, 'status'>,
    _options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    return notImplemented();
  }

  async purgeDeadLetters(
    _filter: { readonly olderThan: Date; readonly consumer?: string },
    _options: BulkActionOptions,
  ): Promise<AdminActionResult> {
    return notImplemented();
  }

  async listAudit(_page?: PageRequest): Promise<Page<AdminAuditRecord>> {
    return notImplemented();
  }

  async getOverview(_options?: { readonly minutes?: number }): Promise<AdminOverview> {
    return notImplemented();
  }
}
