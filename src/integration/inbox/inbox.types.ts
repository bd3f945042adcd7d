/** What a consumer did with an event. */
export enum InboxStatus {
  Processed = 'processed',
  Failed = 'failed',
  Skipped = 'skipped',
}

/** One inbox row. */
export interface InboxRecord {
  readonly eventId: string;
  readonly consumer: string;
  readonly status: InboxStatus;
  /** Attempts so far (all deliveries, replays included). */
  readonly attemptCount: number;
  readonly lastError: string | null;
  readonly payloadHash: string | null;
  readonly processedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** Identifies one (event, consumer) pair. */
export interface InboxKey {
  /** Any id up to 200 characters: outbox event ids, or message ids from a broker. */
  readonly eventId: string;
  readonly consumer: string;
  /** Optional fingerprint of the payload, stored with the row. */
  readonly payloadHash?: string;
  /**
   * The message's tenant, stored with the mark (`null`: none).
   * @default the tenant of the current `IntegrationContext`, else none
   */
  readonly tenantId?: string | null;
}

/** Result of `InboxService.runOnce`. */
export type RunOnceResult<T> =
  | { readonly executed: true; readonly result: T }
  | { readonly executed: false; readonly status: InboxStatus };

/**
 * Trailing options of the `InboxService` methods that may run in the caller's transaction
 * (`isProcessed`, `markFailed`, `markSkipped`, `findByEvent`, `getStatus`).
 */
export interface InboxCallOptions {
  /** Transaction handle of the configured ORM; absent or `null`: on its own. @default none */
  readonly tx?: unknown;
  /**
   * The tenant whose rows the call reads or writes (`null`: rows without a tenant). Naming
   * another tenant than the context's throws `CrossTenantAccessError`.
   * @default the tenant of the current `IntegrationContext`, else every tenant (finders) or
   * none (writes)
   */
  readonly tenantId?: string | null;
}
