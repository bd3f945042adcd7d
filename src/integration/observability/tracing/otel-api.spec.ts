import * as api from '@opentelemetry/api';
import {
  OPENTELEMETRY_API_PACKAGE,
  formatTraceparent,
  loadOpenTelemetryApi,
  parseTraceparent,
  type OtelApi,
} from './otel-api';

const missing = (id: string): Error =>
  Object.assign(new Error(`Cannot find module '${id}'`), { code: 'MODULE_NOT_FOUND' });

describe('loadOpenTelemetryApi', () => {
  it('loads the API when installed', () => {
    expect(loadOpenTelemetryApi()).toBe(api);
  });

  it('is undefined when the package itself is missing', () => {
    expect(
      loadOpenTelemetryApi(() => {
        throw missing(OPENTELEMETRY_API_PACKAGE);
      }),
    ).toBeUndefined();
  });

  it('rethrows a missing dependency of the package (a broken install)', () => {
    expect(() =>
      loadOpenTelemetryApi(() => {
        throw missing('some-dependency');
      }),
    ).toThrow('some-dependency');
  });
});

describe('traceparent', () => {
  const otel = api as unknown as OtelApi;
  const header = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

  it('round-trips a span context, with its tracestate', () => {
    const context = parseTraceparent(otel, header, 'vendor=abc')!;
    expect(context).toMatchObject({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    expect(context.traceState?.serialize()).toBe('vendor=abc');
    expect(formatTraceparent(context)).toBe(header);
  });

  it.each([
    undefined,
    '',
    'garbage',
    'ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    '00-00000000000000000000000000000000-b7ad6b7169203331-01',
    '00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01',
    '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra',
    '00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01',
  ])('refuses %p', (value) => {
    expect(parseTraceparent(otel, value, undefined)).toBeUndefined();
  });

  it('accepts a future version with extra fields', () => {
    expect(parseTraceparent(otel, `01${header.slice(2)}-more`, undefined)?.spanId).toBe(
      'b7ad6b7169203331',
    );
  });
});
