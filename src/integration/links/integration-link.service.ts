import { Inject, Injectable } from '@nestjs/common';
import type { SqlExecutor } from '../database/sql-executor';
import { InvalidLinkError } from '../errors/invalid-link.error';
import { TransactionRequiredError } from '../errors/transaction-required.error';
import { uuidv7 } from '../events/uuid';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { isCallOptions } from '../utils/call-options';
import { IntegrationContext } from '../context/integration-context';
import { resolveTenant } from '../context/tenant-scope';
import { TenantSession } from '../database/tenant-session';
import { IntegrationLinkRepository } from './integration-link.repository';
import type {
  CreateLinkInput,
  EntityRef,
  IntegrationLink,
  LinkQueryOptions,
  LinkType,
  LinkTypeQueryOptions,
} from './integration-link.types';
import {
  checkEntityRef,
  checkLimit,
  checkLinkType,
  checkTenantId,
  normalizeLinkInput,
} from './integration-link.validation';

/** Which links `unlink` removes: those from `source` to `target` (that direction only). */
export interface UnlinkFilter {
  readonly source: EntityRef;
  readonly target: EntityRef;
  /** Only links of this type. @default every type */
  readonly linkType?: LinkType | 'reference' | 'cascade' | 'aggregate_root';
  /**
   * The tenant whose links to remove; `null`: only links without a tenant. Another tenant's
   * links are never removed. @default the context's tenant, else null
   */
  readonly tenantId?: string | null;
}

/**
 * {@link IntegrationLinkService} bound to one transaction (`links.bind(tx)`): the same methods
 * without the `tx` parameter, each running in that transaction.
 */
export interface BoundIntegrationLinks {
  /** See {@link IntegrationLinkService.link}. */
  link(input: CreateLinkInput): Promise<IntegrationLink>;
  /** See {@link IntegrationLinkService.findOutbound}. */
  findOutbound(source: EntityRef, tenantId?: string | null): Promise<IntegrationLink[]>;
  /** See {@link IntegrationLinkService.findInbound}. */
  findInbound(target: EntityRef, tenantId?: string | null): Promise<IntegrationLink[]>;
  /** See {@link IntegrationLinkService.findByType}. */
  findByType(
    linkType: LinkType | 'reference' | 'cascade' | 'aggregate_root',
    limit?: number,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]>;
  /** See {@link IntegrationLinkService.findBetween}. */
  findBetween(a: EntityRef, b: EntityRef, tenantId?: string | null): Promise<IntegrationLink[]>;
  /** See {@link IntegrationLinkService.unlink}. */
  unlink(filter: UnlinkFilter): Promise<number>;
}

/**
 * Records which entities of different modules belong together (`integration_link`), so a
 * module can find what another module's entity relates to without a foreign key across
 * module boundaries. Creating a link is idempotent: the same mapping (tenant, source, target,
 * type) is stored once and creating it again returns the stored link.
 *
 * Every method takes an optional transaction handle of the configured ORM (a Prisma
 * interactive-transaction client, a Knex transaction, or a pg client inside `BEGIN`); without
 * one, the statement runs on its own. Input is validated before any SQL runs.
 *
 * The tenant is part of a link's identity: every call covers exactly one tenant: the one given
 * (`tenantId`; `null`: links without a tenant), else the tenant of the current
 * `IntegrationContext`, else links without a tenant; never every tenant. Naming another tenant
 * than the context's throws `CrossTenantAccessError` (see docs/tenancy.md).
 *
 * ```ts
 * await prisma.$transaction(async (tx) => {
 *   const invoice = await tx.invoice.create({ data });
 *   await links.link(tx, {
 *     source: { module: 'billing', entityType: 'Invoice', entityId: invoice.id },
 *     target: { module: 'vault', entityType: 'Vault', entityId: vaultId },
 *     linkType: LinkType.Reference,
 *   });
 * });
 * const invoices = await links.findInbound({ module: 'vault', entityType: 'Vault', entityId: vaultId });
 * ```
 */
@Injectable()
export class IntegrationLinkService {
  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly repository: IntegrationLinkRepository,
    private readonly context: IntegrationContext,
    private readonly session: TenantSession,
  ) {}

  /**
   * Creates a link, or returns the existing one when the same mapping (tenant, source, target,
   * type) is already stored; its `metadata` is then left as it was. A duplicate never raises
   * a database error, so `tx` stays usable either way.
   *
   * @param tx transaction handle of the configured ORM; `undefined` / `null` runs on its own.
   * @returns the new or existing link (same `id` both times).
   * @throws InvalidLinkError for invalid input, before any SQL runs.
   * @throws TransactionRequiredError when `tx` is given but is not a transaction of the ORM.
   */
  async link(tx: unknown | undefined, input: CreateLinkInput): Promise<IntegrationLink> {
    const checked = normalizeLinkInput(input);
    const tenantId = this.tenant('link', input.tenantId);
    const sql = await this.executor(tx, tenantId);
    return (await this.repository.insert(sql, { ...checked, tenantId }, uuidv7())).link;
  }

  /**
   * Links of one tenant that start at `source`, oldest first.
   *
   * @param options `{ tx, tenantId }` (see `LinkQueryOptions`): the transaction handle (absent:
   * on its own) and the tenant (absent: the context's; `null` or none: links without a tenant).
   */
  findOutbound(source: EntityRef, options?: LinkQueryOptions): Promise<IntegrationLink[]>;
  /** @deprecated Pass the transaction last, in the options: `findOutbound(source, { tx, tenantId })`. */
  findOutbound(
    source: EntityRef,
    tx: unknown,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]>;
  async findOutbound(
    source: EntityRef,
    txOrOptions?: unknown,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]> {
    const o = queryOptions(txOrOptions, tenantId);
    const ref = checkEntityRef(source, 'source');
    const tenant = this.tenant('findOutbound', o.tenantId);
    return this.repository.findOutbound(await this.executor(o.tx, tenant), ref, tenant);
  }

  /**
   * Links of one tenant that point to `target`, oldest first.
   *
   * @param options `{ tx, tenantId }` (see `LinkQueryOptions`): the transaction handle (absent:
   * on its own) and the tenant (absent: the context's; `null` or none: links without a tenant).
   */
  findInbound(target: EntityRef, options?: LinkQueryOptions): Promise<IntegrationLink[]>;
  /** @deprecated Pass the transaction last, in the options: `findInbound(target, { tx, tenantId })`. */
  findInbound(target: EntityRef, tx: unknown, tenantId?: string | null): Promise<IntegrationLink[]>;
  async findInbound(
    target: EntityRef,
    txOrOptions?: unknown,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]> {
    const o = queryOptions(txOrOptions, tenantId);
    const ref = checkEntityRef(target, 'target');
    const tenant = this.tenant('findInbound', o.tenantId);
    return this.repository.findInbound(await this.executor(o.tx, tenant), ref, tenant);
  }

  /**
   * Links of one type and one tenant across all entities, oldest first.
   *
   * @param options `{ tx, limit, tenantId }` (see `LinkTypeQueryOptions`): the transaction
   * handle (absent: on its own), at most `limit` links (default all), and the tenant.
   */
  findByType(
    linkType: LinkType | 'reference' | 'cascade' | 'aggregate_root',
    options?: LinkTypeQueryOptions,
  ): Promise<IntegrationLink[]>;
  /** @deprecated Pass the transaction last, in the options: `findByType(type, { tx, limit, tenantId })`. */
  findByType(
    linkType: LinkType | 'reference' | 'cascade' | 'aggregate_root',
    tx: unknown,
    limit?: number,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]>;
  async findByType(
    linkType: LinkType | 'reference' | 'cascade' | 'aggregate_root',
    txOrOptions?: unknown,
    limit?: number,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]> {
    const o = queryOptions(txOrOptions, tenantId, limit);
    const type = checkLinkType(linkType);
    const max = checkLimit(o.limit);
    const tenant = this.tenant('findByType', o.tenantId);
    return this.repository.findByType(await this.executor(o.tx, tenant), type, tenant, max);
  }

  /**
   * Links of one tenant between `a` and `b` in either direction (a → b and b → a), oldest first.
   *
   * @param options `{ tx, tenantId }` (see `LinkQueryOptions`): the transaction handle (absent:
   * on its own) and the tenant (absent: the context's; `null` or none: links without a tenant).
   */
  findBetween(a: EntityRef, b: EntityRef, options?: LinkQueryOptions): Promise<IntegrationLink[]>;
  /** @deprecated Pass the transaction last, in the options: `findBetween(a, b, { tx, tenantId })`. */
  findBetween(
    a: EntityRef,
    b: EntityRef,
    tx: unknown,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]>;
  async findBetween(
    a: EntityRef,
    b: EntityRef,
    txOrOptions?: unknown,
    tenantId?: string | null,
  ): Promise<IntegrationLink[]> {
    const o = queryOptions(txOrOptions, tenantId);
    const first = checkEntityRef(a, 'a');
    const second = checkEntityRef(b, 'b');
    const tenant = this.tenant('findBetween', o.tenantId);
    return this.repository.findBetween(await this.executor(o.tx, tenant), first, second, tenant);
  }

  /**
   * Removes the links of one tenant (`filter.tenantId`; absent: links without a tenant) from
   * `filter.source` to `filter.target` (that direction only), of every type unless
   * `filter.linkType` is given.
   *
   * @returns how many links were removed (0 when none matched).
   */
  async unlink(tx: unknown | undefined, filter: UnlinkFilter): Promise<number> {
    if (filter === null || typeof filter !== 'object') {
      throw new InvalidLinkError(
        'filter',
        'must be an object { source, target, linkType?, tenantId? }',
      );
    }
    const source = checkEntityRef(filter.source, 'source');
    const target = checkEntityRef(filter.target, 'target');
    const linkType =
      filter.linkType === undefined || filter.linkType === null
        ? undefined
        : checkLinkType(filter.linkType);
    const tenantId = this.tenant('unlink', filter.tenantId);
    const sql = await this.executor(tx, tenantId);
    return this.repository.delete(sql, { source, target, linkType, tenantId });
  }

  /**
   * The methods of this service bound to the transaction `tx`, for code that passes one
   * transaction around (e.g. a subscriber's `ctx.tx`):
   *
   * ```ts
   * const txLinks = links.bind(tx);
   * await txLinks.link({ source, target, linkType: LinkType.Cascade });
   * const outbound = await txLinks.findOutbound(source);
   * ```
   *
   * With `undefined` or `null` the methods run outside any transaction (each statement on its
   * own), as for handlers of `transactional: false` consumers.
   *
   * @throws TransactionRequiredError at once when `tx` is given but is not a transaction of the ORM.
   */
  bind(tx: unknown): BoundIntegrationLinks {
    if (tx !== undefined && tx !== null && !this.options.database.forTransaction(tx)) {
      throw new TransactionRequiredError(this.options.database.kind, 'IntegrationLinkService');
    }
    return {
      link: (input) => this.link(tx, input),
      findOutbound: (source, tenantId) => this.findOutbound(source, { tx, tenantId }),
      findInbound: (target, tenantId) => this.findInbound(target, { tx, tenantId }),
      findByType: (linkType, limit, tenantId) => this.findByType(linkType, { tx, limit, tenantId }),
      findBetween: (a, b, tenantId) => this.findBetween(a, b, { tx, tenantId }),
      unlink: (filter) => this.unlink(tx, filter),
    };
  }

  /**
   * The tenant of a call: `given` (validated; `null`: links without a tenant), else the
   * context's, else `null` (links are never read across tenants).
   * @throws InvalidLinkError for an invalid `given`.
   * @throws CrossTenantAccessError when `given` is not the context's tenant.
   */
  private tenant(method: string, given: unknown): string | null {
    const explicit = given === undefined ? undefined : checkTenantId(given);
    const context = this.context.current().tenantId;
    return resolveTenant(`IntegrationLinkService.${method}`, explicit, context) ?? null;
  }

  /**
   * The executor of `tx`, or the root client when `tx` is absent; with the `rowLevelSecurity`
   * option, set for `tenant` (see `TenantSession`).
   */
  private async executor(tx: unknown, tenant: string | null): Promise<SqlExecutor> {
    if (tx === undefined || tx === null) return this.session.executor(tenant);
    const sql = this.options.database.forTransaction(tx);
    if (!sql)
      throw new TransactionRequiredError(this.options.database.kind, 'IntegrationLinkService');
    await this.session.enter(sql, tenant);
    return sql;
  }
}

const QUERY_OPTION_KEYS = ['tx', 'tenantId', 'limit'] as const;

/** The finders' options, from `{ tx, tenantId, limit }` or from the older positional shape. */
function queryOptions(
  txOrOptions: unknown,
  tenantId: string | null | undefined,
  limit?: number,
): { readonly tx?: unknown; readonly tenantId?: string | null; readonly limit?: number } {
  if (
    tenantId === undefined &&
    limit === undefined &&
    isCallOptions(txOrOptions, QUERY_OPTION_KEYS)
  ) {
    return txOrOptions as LinkTypeQueryOptions;
  }
  return { tx: txOrOptions, tenantId, limit };
}
