/**
 * What a link between two entities of different modules means. Stored in
 * `integration_link.link_type` (a CHECK constraint allows exactly these values).
 */
export enum LinkType {
  /** The source refers to the target; neither owns the other. */
  Reference = 'reference',
  /** The target's lifecycle follows the source's (e.g. removed when the source is removed). */
  Cascade = 'cascade',
  /** The target is the aggregate root the source belongs to. */
  AggregateRoot = 'aggregate_root',
}

/**
 * One entity, named by the module that owns it, its type within that module and its id.
 * Each part is 1–200 characters of valid Unicode without NUL.
 *
 * ```ts
 * const vault: EntityRef = { module: 'vault', entityType: 'Vault', entityId: vaultId };
 * ```
 */
export interface EntityRef {
  /** Owning module, e.g. `vault` or `billing`. */
  readonly module: string;
  /** Entity type within the module, e.g. `Vault` or `Invoice`. */
  readonly entityType: string;
  /** The entity's id, as text. */
  readonly entityId: string;
}

/** Input of `IntegrationLinkService.link`. */
export interface CreateLinkInput {
  /** The entity the link starts at. */
  readonly source: EntityRef;
  /** The entity the link points to; must differ from `source`. */
  readonly target: EntityRef;
  /** What the link means (the enum or its string value). */
  readonly linkType: LinkType | 'reference' | 'cascade' | 'aggregate_root';
  /**
   * Free-form JSON stored with a new link (a plain object; `Date` values become ISO strings).
   * Not changed when the link already exists. @default {}
   */
  readonly metadata?: Record<string, unknown>;
  /**
   * Tenant the link belongs to; the same mapping may exist once per tenant.
   * @default the tenant of the current `IntegrationContext`, else none
   */
  readonly tenantId?: string;
}

/** A stored link, as read back from `integration_link`. */
export interface IntegrationLink {
  /** UUIDv7 assigned when the link was first created. */
  readonly id: string;
  readonly source: EntityRef;
  readonly target: EntityRef;
  readonly linkType: LinkType;
  /** The stored metadata (`{}` when none was given). */
  readonly metadata: Record<string, unknown>;
  /** The tenant, or `null` for a link outside any tenant. */
  readonly tenantId: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/**
 * Options of the finders of `IntegrationLinkService` (`findOutbound`, `findInbound`,
 * `findBetween`): an optional transaction goes last, in the options.
 */
export interface LinkQueryOptions {
  /** Transaction handle of the configured ORM; absent or `null`: on its own. @default none */
  readonly tx?: unknown;
  /**
   * The tenant; `null`: only links without a tenant.
   * @default the tenant of the current `IntegrationContext`, else null
   */
  readonly tenantId?: string | null;
}

/** Options of `IntegrationLinkService.findByType`. */
export interface LinkTypeQueryOptions extends LinkQueryOptions {
  /** At most this many. @default all */
  readonly limit?: number;
}
