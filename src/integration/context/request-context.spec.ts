import { BadRequestException } from '@nestjs/common';
import { readRequestContext, type RequestLike } from './request-context';

const request = (headers: RequestLike['headers']): RequestLike => ({ headers });
const response = () => {
  const set: Record<string, string> = {};
  return { set, setHeader: (name: string, value: string) => (set[name] = value) };
};

describe('readRequestContext', () => {
  it('reads tenant and correlation id, and echoes the correlation id', () => {
    const res = response();
    expect(
      readRequestContext(request({ 'x-tenant-id': ' acme ', 'x-correlation-id': 'abc' }), res),
    ).toEqual({ tenantId: 'acme', correlationId: 'abc' });
    expect(res.set).toEqual({ 'x-correlation-id': 'abc' });
  });

  it('takes the first of repeated headers, and configurable header names', () => {
    expect(
      readRequestContext(
        request({ 'x-org': ['o-1', 'o-2'], 'x-request-id': 'r-1', 'x-user': 'bob' }),
        undefined,
        { tenantHeader: 'X-Org', correlationHeader: 'X-Request-Id', actorHeader: 'X-User' },
      ),
    ).toEqual({ tenantId: 'o-1', correlationId: 'r-1', actor: 'bob' });
  });

  it("falls back to traceparent's trace id, then to a generated id, then to none", () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    expect(readRequestContext(request({ traceparent }), undefined)).toEqual({
      correlationId: '4bf92f3577b34da6a3ce929d0e0e4736',
    });
    expect(
      readRequestContext(request({ traceparent }), undefined, {
        correlationFromTraceparent: false,
      }),
    ).toEqual({});
    expect(
      readRequestContext(request({ traceparent: 'garbage' }), undefined, {
        generateCorrelationId: () => 'gen-1',
      }),
    ).toEqual({ correlationId: 'gen-1' });
    const generated = readRequestContext(request({}), undefined, { generateCorrelationId: true });
    expect(generated.correlationId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('ignores an invalid correlation id and refuses an invalid tenant with 400', () => {
    expect(readRequestContext(request({ 'x-correlation-id': 'x'.repeat(201) }), undefined)).toEqual(
      {},
    );
    expect(() => readRequestContext(request({ 'x-tenant-id': 'a\u0000b' }), undefined)).toThrow(
      BadRequestException,
    );
  });

  it("lets resolve() override the headers' values, and can skip the echo", () => {
    const res = response();
    expect(
      readRequestContext(request({ 'x-tenant-id': 'from-header', 'x-correlation-id': 'c' }), res, {
        echoCorrelationId: false,
        resolve: () => ({ tenantId: 'from-user', actor: undefined }),
      }),
    ).toEqual({ tenantId: 'from-user', correlationId: 'c' });
    expect(res.set).toEqual({});
  });
});
