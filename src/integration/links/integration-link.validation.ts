import { InvalidLinkError } from '../errors/invalid-link.error';
import { MAX_TEXT_FIELD_LENGTH } from '../events/event-validation';
import { serializeJson, unstorableStringReason } from '../events/json-serializer';
import { LinkType, type CreateLinkInput, type EntityRef } from './integration-link.types';

/** A link validated and serialised, ready for the INSERT. */
export interface NormalizedLink {
  readonly source: EntityRef;
  readonly target: EntityRef;
  readonly linkType: LinkType;
  /** Metadata as JSON text (`{}` when none was given). */
  readonly metadataJson: string;
  readonly tenantId: string | null;
}

/**
 * Largest accepted link `metadata`, in bytes of the `jsonb` text PostgreSQL stores and returns
 * (64 KiB). Metadata describes a link; keep larger data with the entity it belongs to.
 */
export const MAX_LINK_METADATA_BYTES = 64 * 1024;

const LINK_TYPES: ReadonlySet<string> = new Set(Object.values(LinkType));

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

/** A required short text: a string of 1–200 characters, not blank, storable by PostgreSQL. */
function checkText(value: unknown, field: string): string {
  if (value === undefined || value === null) throw new InvalidLinkError(field, 'is required');
  if (typeof value !== 'string') {
    throw new InvalidLinkError(field, `must be a string (got ${describe(value)})`);
  }
  if (value.trim().length === 0) throw new InvalidLinkError(field, 'must not be empty or blank');
  if (value.length > MAX_TEXT_FIELD_LENGTH) {
    throw new InvalidLinkError(
      field,
      `must be at most ${MAX_TEXT_FIELD_LENGTH} characters (got ${value.length})`,
    );
  }
  const reason = unstorableStringReason(value);
  if (reason) throw new InvalidLinkError(field, reason);
  return value;
}

/**
 * Validates an entity reference; returns a copy holding only `module`, `entityType` and
 * `entityId`. Throws {@link InvalidLinkError} naming `field.module` etc.
 */
export function checkEntityRef(value: unknown, field: string): EntityRef {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidLinkError(
      field,
      `must be an object { module, entityType, entityId } (got ${describe(value)})`,
    );
  }
  const ref = value as Partial<Record<keyof EntityRef, unknown>>;
  return {
    module: checkText(ref.module, `${field}.module`),
    entityType: checkText(ref.entityType, `${field}.entityType`),
    entityId: checkText(ref.entityId, `${field}.entityId`),
  };
}

/** Validates a link type given as the enum or its string value. */
export function checkLinkType(value: unknown, field = 'linkType'): LinkType {
  if (typeof value !== 'string' || !LINK_TYPES.has(value)) {
    throw new InvalidLinkError(
      field,
      `must be one of ${[...LINK_TYPES].map((t) => `'${t}'`).join(', ')} ` +
        `(got ${typeof value === 'string' ? JSON.stringify(value) : describe(value)}); use the LinkType enum`,
    );
  }
  return value as LinkType;
}

/** Validates an optional tenant id: absent (`undefined` / `null`) or a short storable string. */
export function checkTenantId(value: unknown, field = 'tenantId'): string | null {
  if (value === undefined || value === null) return null;
  return checkText(value, field);
}

/**
 * Serialises metadata: absent means `{}`; otherwise a plain object of JSON values, checked like
 * an event payload (same rules, nesting depth) and at most {@link MAX_LINK_METADATA_BYTES}.
 */
function serializeMetadata(value: unknown): string {
  if (value === undefined || value === null) return '{}';
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Date) {
    throw new InvalidLinkError(
      'metadata',
      `must be a plain object of JSON values (got ${describe(value)})`,
    );
  }
  const { json, storedBytes } = serializeJson(
    value,
    'metadata',
    (path, reason) => new InvalidLinkError(path, reason),
  );
  if (storedBytes > MAX_LINK_METADATA_BYTES) {
    throw new InvalidLinkError(
      'metadata',
      `takes ${storedBytes} bytes as stored (jsonb text), over the ${MAX_LINK_METADATA_BYTES}-byte ` +
        'limit: keep large data with the entity and put a reference in the metadata',
    );
  }
  return json;
}

function sameRef(a: EntityRef, b: EntityRef): boolean {
  return a.module === b.module && a.entityType === b.entityType && a.entityId === b.entityId;
}

/**
 * Validates a link and serialises its metadata. Throws {@link InvalidLinkError} before anything
 * is written.
 */
export function normalizeLinkInput(input: CreateLinkInput): NormalizedLink {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new InvalidLinkError('input', `must be an object (got ${describe(input)})`);
  }
  const linkType = checkLinkType(input.linkType);
  const source = checkEntityRef(input.source, 'source');
  const target = checkEntityRef(input.target, 'target');
  if (sameRef(source, target)) {
    throw new InvalidLinkError(
      'target',
      'must differ from source: an entity cannot be linked to itself',
    );
  }
  const tenantId = checkTenantId(input.tenantId);
  const metadataJson = serializeMetadata(input.metadata);
  return { source, target, linkType, metadataJson, tenantId };
}

/** Validates a `limit`: an integer from 1 to 2,147,483,647, or absent. */
export function checkLimit(value: unknown, field = 'limit'): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 2_147_483_647) {
    throw new InvalidLinkError(
      field,
      `must be an integer from 1 to 2147483647 (got ${String(value)})`,
    );
  }
  return value;
}
