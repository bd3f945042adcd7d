import { InvalidQueryError } from '../../errors/invalid-query.error';
import {
  parseBulkAction,
  parseDeliveryListing,
  parseEventListing,
  parseOverview,
  parsePage,
  parsePurge,
  parseReason,
  parseAuditListing,
  parseTenantQuery,
} from './admin-request.parser';
import { renderDashboardPage } from './dashboard-assets';
import { DEFAULT_ADMIN_ACTOR, resolveAdminHttpOptions } from './admin-http.options';

describe('admin HTTP request parsing', () => {
  it('turns a listing query into a filter and a page', () => {
    expect(
      parseDeliveryListing({
        consumer: 'mailer',
        status: 'pending',
        from: '2026-01-01T00:00:00Z',
        tenantId: '',
        limit: '20',
        after: 'cursor',
      }),
    ).toEqual({
      filter: {
        consumer: 'mailer',
        status: 'pending',
        from: new Date('2026-01-01T00:00:00Z'),
        tenantId: null,
      },
      page: { limit: 20, after: 'cursor' },
    });
    expect(parseEventListing({ to: '2026-02-01T00:00:00Z' }).filter).toEqual({
      to: new Date('2026-02-01T00:00:00Z'),
    });
    expect(parseEventListing(undefined)).toEqual({ filter: {}, page: {} });
    expect(parsePage({ limit: '5' })).toEqual({ limit: 5 });
    expect(parseOverview({ minutes: '30' })).toEqual({ minutes: 30 });
    expect(parseOverview({})).toEqual({});
  });

  it('refuses unknown keys, repeated values, bad dates and numbers, before anything runs', () => {
    const fails = (fn: () => unknown, message: string) => {
      expect(fn).toThrow(InvalidQueryError);
      expect(fn).toThrow(message);
    };
    fails(() => parseDeliveryListing({ consumr: 'x' }), "did you mean 'consumer'?");
    fails(() => parseDeliveryListing({ consumer: ['a', 'b'] }), 'must be given once');
    fails(() => parseDeliveryListing({ limit: '-1' }), 'query.limit must be a whole number');
    fails(() => parseEventListing({ from: 'soon' }), 'query.from must be an ISO 8601 date-time');
    fails(() => parseEventListing({ from: '' }), 'query.from must be an ISO 8601');
    fails(() => parseEventListing({ limit: '1' }, false), 'query.limit is not a known key');
    fails(() => parseOverview({ minutes: 'many' }), 'query.minutes must be a whole number');
    fails(() => parseReason('m', { why: 'x' }), "did you mean 'reason'?");
    fails(() => parseBulkAction('m', { filter: { status: 'x' } }), 'body.filter.status');
    fails(() => parseBulkAction('m', { dryRun: 'yes' }), 'body.dryRun must be true or false');
    fails(() => parsePurge({ reason: 'r' }), 'body.olderThan is required');
    fails(() => parsePurge({ olderThan: 12 }), 'body.olderThan must be an ISO 8601');
  });

  it('reads action bodies', () => {
    expect(parseReason('m', undefined)).toEqual({});
    expect(parseReason('m', { reason: 'why' })).toEqual({ reason: 'why' });
    expect(
      parseBulkAction('m', {
        filter: { consumer: 'c', to: '2026-01-01T00:00:00Z' },
        reason: 'r',
        dryRun: 'true',
        limit: 10,
      }),
    ).toEqual({
      filter: { consumer: 'c', to: new Date('2026-01-01T00:00:00Z') },
      options: { reason: 'r', dryRun: true, limit: 10 },
    });
    expect(parseBulkAction('m', {})).toEqual({ filter: {}, options: {} });
    expect(
      parsePurge({ olderThan: '2026-01-01T00:00:00Z', consumer: 'c', reason: 'r', dryRun: false }),
    ).toEqual({
      filter: { olderThan: new Date('2026-01-01T00:00:00Z'), consumer: 'c' },
      options: { reason: 'r', dryRun: false },
    });
  });
});

describe('the dashboard page', () => {
  it('gets a <base> of the path it was asked at, with one trailing slash, escaped', () => {
    const html = '<base href="{{BASE}}" />';
    expect(renderDashboardPage(html, '/admin')).toBe('<base href="/admin/" />');
    expect(renderDashboardPage(html, '/api/v1/admin/?x=1#y')).toBe(
      '<base href="/api/v1/admin/" />',
    );
    expect(renderDashboardPage(html, '/a"<b>')).toBe('<base href="/a&quot;&lt;b&gt;/" />');
  });
});

describe('admin HTTP tenant parameters (issue 16)', () => {
  it('reads tenantId from the query of one-event requests and the audit, and from the purge body', () => {
    expect(parseTenantQuery('GET events/:eventId', { tenantId: 'acme' })).toEqual({
      tenantId: 'acme',
    });
    expect(parseTenantQuery('GET events/:eventId', { tenantId: '' })).toEqual({ tenantId: null });
    expect(parseTenantQuery('GET events/:eventId', undefined)).toEqual({});
    expect(() => parseTenantQuery('GET events/:eventId', { tenant: 'acme' })).toThrow(
      InvalidQueryError,
    );
    expect(parseAuditListing({ limit: '2', tenantId: 'acme' })).toEqual({
      page: { limit: 2 },
      options: { tenantId: 'acme' },
    });
    expect(parsePurge({ olderThan: '2026-01-01T00:00:00Z', tenantId: 'acme' }).filter).toEqual({
      olderThan: new Date('2026-01-01T00:00:00Z'),
      tenantId: 'acme',
    });
  });
});

describe('admin module options', () => {
  it('defaults the path and the actor', () => {
    const guard = { canActivate: () => true };
    const options = resolveAdminHttpOptions({ guard });
    expect(options).toMatchObject({
      path: 'admin',
      writeGuard: undefined,
      exposeErrorDetails: false,
    });
    expect(options.actor({ headers: {} })).toBe(DEFAULT_ADMIN_ACTOR);
    expect(options.actor({ headers: {}, integrationAdminActor: 'ops' })).toBe('ops');
    const custom = resolveAdminHttpOptions({ guard, actor: () => undefined, path: '/x/y/' });
    expect(custom.path).toBe('x/y');
    expect(custom.actor({ headers: {}, integrationAdminActor: 'ignored' })).toBe(
      DEFAULT_ADMIN_ACTOR,
    );
  });
});
