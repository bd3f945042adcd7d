import { Injectable } from '@nestjs/common';
import { IntegrationTables } from '../database/integration-tables';
import type { SqlExecutor } from '../database/sql-executor';
import { LinkType, type EntityRef, type IntegrationLink } from './integration-link.types';
import type { NormalizedLink } from './integration-link.validation';

/** Columns as selected by {@link LINK_COLUMNS}: types every driver returns the same way. */
interface LinkRow {
  id: string;
  source_module: string;
  source_entity_type: string;
  source_entity_id: string;
  target_module: string;
  target_entity_type: string;
  target_entity_id: string;
  link_type: string;
  metadata: string;
  tenant_id: string | null;
  created_at: number;
  updated_at: number;
}

const ms = (column: string): string =>
  `(extract(epoch from ${column}) * 1000)::float8 AS ${column}`;

/** Every column, cast so Prisma, Knex and pg return identical JavaScript values. */
const LINK_COLUMNS = [
  'id::text AS id',
  'source_module',
  'source_entity_type',
  'source_entity_id',
  'target_module',
  'target_entity_type',
  'target_entity_id',
  'link_type',
  'metadata::text AS metadata',
  'tenant_id',
  ms('created_at'),
  ms('updated_at'),
].join(', ');

const ORDER = 'ORDER BY created_at, id';

/** How many times `insert` retries when the conflicting row vanished before it could be read. */
const INSERT_ATTEMPTS = 3;

function mapRow(row: LinkRow): IntegrationLink {
  return {
    id: row.id,
    source: {
      module: row.source_module,
      entityType: row.source_entity_type,
      entityId: row.source_entity_id,
    },
    target: {
      module: row.target_module,
      entityType: row.target_entity_type,
      entityId: row.target_entity_id,
    },
    linkType: row.link_type as LinkType,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    tenantId: row.tenant_id,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/**
 * The tenant a query covers: a string, only that tenant's links; `null`, only links without a
 * tenant. The tenant is part of a link's identity, so no query spans tenants.
 */
export type TenantFilter = string | null;

/** Filter of {@link IntegrationLinkRepository.delete}. */
export interface DeleteLinksFilter {
  readonly source: EntityRef;
  readonly target: EntityRef;
  /** Only links of this type. @default every type */
  readonly linkType?: LinkType;
  /** See {@link TenantFilter}. */
  readonly tenantId: TenantFilter;
}

/** Every statement of {@link IntegrationLinkRepository} for one set of tables, built once per instance. */
function linkStatements(t: IntegrationTables) {
  return {
    insert: `INSERT INTO ${t.link} (tenant_id, source_module, source_entity_type,
           source_entity_id, target_module, target_entity_type, target_entity_id, link_type,
           id, metadata)
         VALUES ($1::text, $2::text, $3::text, $4::text, $5::text, $6::text, $7::text, $8::text,
           $9::uuid, $10::jsonb)
         ON CONFLICT ((coalesce(tenant_id, '')), source_module, source_entity_type,
           source_entity_id, target_module, target_entity_type, target_entity_id, link_type)
         DO NOTHING
         RETURNING ${LINK_COLUMNS}`,
    findExisting: `SELECT ${LINK_COLUMNS} FROM ${t.link}
          WHERE coalesce(tenant_id, '') = coalesce($1::text, '')
            AND source_module = $2::text AND source_entity_type = $3::text
            AND source_entity_id = $4::text
            AND target_module = $5::text AND target_entity_type = $6::text
            AND target_entity_id = $7::text
            AND link_type = $8::text`,
    findBySource: `SELECT ${LINK_COLUMNS} FROM ${t.link}
        WHERE source_module = $1::text AND source_entity_type = $2::text
          AND source_entity_id = $3::text
          AND coalesce(tenant_id, '') = coalesce($4::text, '')
        ${ORDER}`,
    findByTarget: `SELECT ${LINK_COLUMNS} FROM ${t.link}
        WHERE target_module = $1::text AND target_entity_type = $2::text
          AND target_entity_id = $3::text
          AND coalesce(tenant_id, '') = coalesce($4::text, '')
        ${ORDER}`,
    findByType: `SELECT ${LINK_COLUMNS} FROM ${t.link}
        WHERE link_type = $1::text AND coalesce(tenant_id, '') = coalesce($3::text, '')
        ${ORDER}
        LIMIT $2::int`,
    findBetween: `SELECT ${LINK_COLUMNS} FROM ${t.link}
        WHERE ((source_module = $1::text AND source_entity_type = $2::text
                AND source_entity_id = $3::text
                AND target_module = $4::text AND target_entity_type = $5::text
                AND target_entity_id = $6::text)
            OR (source_module = $4::text AND source_entity_type = $5::text
                AND source_entity_id = $6::text
                AND target_module = $1::text AND target_entity_type = $2::text
                AND target_entity_id = $3::text))
          AND coalesce(tenant_id, '') = coalesce($7::text, '')
        ${ORDER}`,
    delete: `WITH gone AS (
         DELETE FROM ${t.link}
          WHERE source_module = $1::text AND source_entity_type = $2::text
            AND source_entity_id = $3::text
            AND target_module = $4::text AND target_entity_type = $5::text
            AND target_entity_id = $6::text
            AND ($7::text IS NULL OR link_type = $7::text)
            AND coalesce(tenant_id, '') = coalesce($8::text, '')
         RETURNING 1
       )
       SELECT count(*)::int AS n FROM gone`,
  } as const;
}

/**
 * All SQL of integration links. Every statement is parameterized with explicit casts;
 * identifiers are constants or the tables of the validated `schema` option. Results are ordered by `created_at, id` (ids are UUIDv7, so links
 * created in one transaction keep their creation order).
 */
@Injectable()
export class IntegrationLinkRepository {
  private readonly statements: ReturnType<typeof linkStatements>;

  constructor(tables: IntegrationTables) {
    this.statements = linkStatements(tables);
  }

  /**
   * Inserts a link unless its mapping (tenant, source, target, type) exists. A conflict is
   * resolved with `ON CONFLICT DO NOTHING`, which never raises, so the caller's transaction
   * stays usable; the existing row is then read and returned with `created: false`.
   *
   * A concurrent insert of the same mapping blocks this one until it commits (then the row is
   * read here) or rolls back (then this insert proceeds), under READ COMMITTED.
   */
  async insert(
    sql: SqlExecutor,
    input: NormalizedLink,
    id: string,
  ): Promise<{ link: IntegrationLink; created: boolean }> {
    const key = [
      input.tenantId,
      input.source.module,
      input.source.entityType,
      input.source.entityId,
      input.target.module,
      input.target.entityType,
      input.target.entityId,
      input.linkType,
    ];
    for (let attempt = 1; ; attempt++) {
      const inserted = await sql.query<LinkRow>(this.statements.insert, [
        ...key,
        id,
        input.metadataJson,
      ]);
      if (inserted.rows[0]) return { link: mapRow(inserted.rows[0]), created: true };

      // A new statement: under READ COMMITTED it sees the row that caused the conflict.
      const existing = await sql.query<LinkRow>(this.statements.findExisting, key);
      if (existing.rows[0]) return { link: mapRow(existing.rows[0]), created: false };
      // The conflicting row was deleted in between: try again.
      if (attempt >= INSERT_ATTEMPTS) {
        throw new Error(
          `integration_link insert of ${id} conflicted ${attempt} times with a row that was ` +
            'deleted before it could be read; retry the operation',
        );
      }
    }
  }

  /** Links of one tenant whose source is `source`. */
  findOutbound(
    sql: SqlExecutor,
    source: EntityRef,
    tenantId: TenantFilter,
  ): Promise<IntegrationLink[]> {
    return this.findByEnd(sql, 'source', source, tenantId);
  }

  /** Links of one tenant whose target is `target`. */
  findInbound(
    sql: SqlExecutor,
    target: EntityRef,
    tenantId: TenantFilter,
  ): Promise<IntegrationLink[]> {
    return this.findByEnd(sql, 'target', target, tenantId);
  }

  /** Links with `ref` at one end (one of two prebuilt statements). */
  private async findByEnd(
    sql: SqlExecutor,
    end: 'source' | 'target',
    ref: EntityRef,
    tenantId: TenantFilter,
  ): Promise<IntegrationLink[]> {
    const result = await sql.query<LinkRow>(
      this.statements[end === 'source' ? 'findBySource' : 'findByTarget'],
      [ref.module, ref.entityType, ref.entityId, tenantId],
    );
    return result.rows.map(mapRow);
  }

  /** Links of one type and tenant, oldest first; at most `limit` (`null` / absent: all). */
  async findByType(
    sql: SqlExecutor,
    linkType: LinkType,
    tenantId: TenantFilter,
    limit?: number | null,
  ): Promise<IntegrationLink[]> {
    const result = await sql.query<LinkRow>(this.statements.findByType, [
      linkType,
      limit ?? null,
      tenantId,
    ]);
    return result.rows.map(mapRow);
  }

  /** Links of one tenant between `a` and `b` in either direction (a → b and b → a), of every type. */
  async findBetween(
    sql: SqlExecutor,
    a: EntityRef,
    b: EntityRef,
    tenantId: TenantFilter,
  ): Promise<IntegrationLink[]> {
    const result = await sql.query<LinkRow>(this.statements.findBetween, [
      a.module,
      a.entityType,
      a.entityId,
      b.module,
      b.entityType,
      b.entityId,
      tenantId,
    ]);
    return result.rows.map(mapRow);
  }

  /** Deletes the links of one tenant from `source` to `target` (one direction) matching the filter; returns how many. */
  async delete(sql: SqlExecutor, filter: DeleteLinksFilter): Promise<number> {
    const { source, target } = filter;
    const result = await sql.query<{ n: number }>(this.statements.delete, [
      source.module,
      source.entityType,
      source.entityId,
      target.module,
      target.entityType,
      target.entityId,
      filter.linkType ?? null,
      filter.tenantId,
    ]);
    return result.rows[0]?.n ?? 0;
  }
}
