import { InvalidLinkError } from '../errors/invalid-link.error';
import { LinkType, type CreateLinkInput } from './integration-link.types';
import { MAX_JSON_DEPTH } from '../events/json-serializer';
import {
  MAX_LINK_METADATA_BYTES,
  checkLimit,
  normalizeLinkInput,
} from './integration-link.validation';

const base: CreateLinkInput = {
  source: { module: 'billing', entityType: 'Invoice', entityId: 'i-1' },
  target: { module: 'vault', entityType: 'Vault', entityId: 'v-1' },
  linkType: LinkType.Reference,
};

const fieldOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (error) {
    if (error instanceof InvalidLinkError) return error.field;
    throw error;
  }
  return undefined;
};

describe('normalizeLinkInput', () => {
  it('normalizes a minimal link: metadata {} and no tenant', () => {
    expect(normalizeLinkInput(base)).toEqual({
      source: base.source,
      target: base.target,
      linkType: LinkType.Reference,
      metadataJson: '{}',
      tenantId: null,
    });
    expect(normalizeLinkInput({ ...base, metadata: null as never }).metadataJson).toBe('{}');
  });

  it('keeps only module, entityType and entityId of each reference', () => {
    const source = { ...base.source, extra: 'dropped' };
    expect(normalizeLinkInput({ ...base, source }).source).toEqual(base.source);
  });

  it('accepts every link type as enum or string value', () => {
    for (const t of ['reference', 'cascade', 'aggregate_root'] as const) {
      expect(normalizeLinkInput({ ...base, linkType: t }).linkType).toBe(t);
    }
    expect(normalizeLinkInput({ ...base, linkType: LinkType.AggregateRoot }).linkType).toBe(
      'aggregate_root',
    );
  });

  it('accepts text of exactly 200 characters and rejects 201', () => {
    const at = (n: number): CreateLinkInput => ({
      ...base,
      target: { ...base.target, entityId: 'x'.repeat(n) },
      tenantId: 't'.repeat(n),
    });
    expect(normalizeLinkInput(at(200)).target.entityId).toHaveLength(200);
    expect(fieldOf(() => normalizeLinkInput(at(201)))).toBe('target.entityId');
  });

  it('accepts emoji (surrogate pairs) but not lone surrogates', () => {
    const emoji = { ...base, source: { ...base.source, entityId: '🔐' } };
    expect(normalizeLinkInput(emoji).source.entityId).toBe('🔐');
    const lone = { ...base, source: { ...base.source, entityId: '🔐'.slice(0, 1) } };
    expect(fieldOf(() => normalizeLinkInput(lone))).toBe('source.entityId');
  });

  it('serialises metadata like an event payload: Dates as ISO strings, undefined props omitted', () => {
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { a: 1 });
    const metadata = { at: new Date(0), gone: undefined, bare, list: [null, true, 'x'] };
    expect(JSON.parse(normalizeLinkInput({ ...base, metadata }).metadataJson)).toEqual({
      at: '1970-01-01T00:00:00.000Z',
      bare: { a: 1 },
      list: [null, true, 'x'],
    });
  });

  it('reports the path of bad metadata and the key that cannot be stored', () => {
    expect(fieldOf(() => normalizeLinkInput({ ...base, metadata: { deep: { n: 1n } } }))).toBe(
      'metadata.deep.n',
    );
    expect(fieldOf(() => normalizeLinkInput({ ...base, metadata: { 'k\u0000': 1 } }))).toBe(
      'metadata key "k\\u0000"',
    );
    class Money {
      amount = 1;
    }
    expect(fieldOf(() => normalizeLinkInput({ ...base, metadata: { m: new Money() } }))).toBe(
      'metadata.m',
    );
    expect(fieldOf(() => normalizeLinkInput({ ...base, metadata: new Money() as never }))).toBe(
      'metadata',
    );
  });

  it('treats references that differ only in one part as different entities', () => {
    const same = { ...base.source };
    expect(fieldOf(() => normalizeLinkInput({ ...base, target: same }))).toBe('target');
    for (const part of ['module', 'entityType', 'entityId'] as const) {
      const target = { ...base.source, [part]: `${base.source[part]}-2` };
      expect(() => normalizeLinkInput({ ...base, target })).not.toThrow();
    }
  });

  it('checks the link type before the references, and says what is allowed', () => {
    expect(() => normalizeLinkInput({ linkType: 'x' } as never)).toThrow(
      "Invalid integration link: linkType must be one of 'reference', 'cascade', 'aggregate_root' " +
        '(got "x"); use the LinkType enum',
    );
  });
});

describe('link metadata limits (hardening #9)', () => {
  it('accepts metadata up to MAX_LINK_METADATA_BYTES as stored and refuses one byte more (hardening #9)', () => {
    // {"k": "…"} is 9 bytes of jsonb text around the string.
    const at = (bytes: number): CreateLinkInput => ({
      ...base,
      metadata: { k: 'x'.repeat(bytes - 9) },
    });
    expect(normalizeLinkInput(at(MAX_LINK_METADATA_BYTES)).metadataJson).toHaveLength(
      MAX_LINK_METADATA_BYTES - 1,
    );
    expect(() => normalizeLinkInput(at(MAX_LINK_METADATA_BYTES + 1))).toThrow(
      `over the ${MAX_LINK_METADATA_BYTES}-byte limit`,
    );
    expect(fieldOf(() => normalizeLinkInput(at(MAX_LINK_METADATA_BYTES + 1)))).toBe('metadata');
  });

  it('counts numbers as PostgreSQL returns them: 1,000 × 1e308 is refused (hardening #9)', () => {
    const metadata = { n: Array.from({ length: 1_000 }, () => 1e308) };
    expect(JSON.stringify(metadata).length).toBeLessThan(MAX_LINK_METADATA_BYTES);
    expect(fieldOf(() => normalizeLinkInput({ ...base, metadata }))).toBe('metadata');
  });

  it('refuses metadata nested 5,000 levels deep with InvalidLinkError, not RangeError (hardening #9)', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 5_000; i++) deep = [deep];
    expect(fieldOf(() => normalizeLinkInput({ ...base, metadata: { deep } }))).toBe(
      `metadata.deep${'[0]'.repeat(MAX_JSON_DEPTH - 1)}`,
    );
  });
});

describe('checkLimit', () => {
  it('accepts absent and positive integers, rejects the rest', () => {
    expect(checkLimit(undefined)).toBeNull();
    expect(checkLimit(null)).toBeNull();
    expect(checkLimit(1)).toBe(1);
    expect(checkLimit(2_147_483_647)).toBe(2_147_483_647);
    for (const bad of [0, -1, 1.5, 2_147_483_648, Number.NaN, '10']) {
      expect(fieldOf(() => checkLimit(bad))).toBe('limit');
    }
  });
});
