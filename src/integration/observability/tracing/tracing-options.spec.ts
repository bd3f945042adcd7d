import { sqlExecutor } from '../../database/sql-executor.factory';
import type { IntegrationDatabaseAdapter } from '../../database/sql-executor';
import { InvalidIntegrationOptionsError } from '../../errors/invalid-options.error';
import { resolveOptions, type IntegrationModuleOptions } from '../../integration.options';

// A stand-in adapter: option resolution never touches the database.
const database: IntegrationDatabaseAdapter = {
  kind: 'fake',
  root: { query: async () => ({ rows: [], rowCount: 0 }) },
  forTransaction: () => undefined,
  transaction: async (fn) =>
    fn(
      undefined,
      sqlExecutor(async () => ({ rows: [], rowCount: 0 })),
    ),
  listenConfig: () => ({ connectionString: 'postgres://x@127.0.0.1/db' }),
};

function problems(tracing: unknown): readonly string[] {
  try {
    resolveOptions({ database, tracing } as IntegrationModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidIntegrationOptionsError);
    return (error as InvalidIntegrationOptionsError).problems;
  }
  throw new Error('expected InvalidIntegrationOptionsError');
}

describe('tracing options', () => {
  it('is enabled with the global provider by default', () => {
    expect(resolveOptions({ database }).tracing).toEqual({
      enabled: true,
      tracerProvider: undefined,
    });
  });

  it('keeps the given provider and switch', () => {
    const tracerProvider = { getTracer: () => ({}) };
    expect(
      resolveOptions({ database, tracing: { enabled: false, tracerProvider } }).tracing,
    ).toEqual({ enabled: false, tracerProvider });
  });

  it('refuses what is not a switch or a provider, and unknown keys', () => {
    expect(problems('on')).toEqual([expect.stringMatching(/^tracing must be an object/)]);
    expect(problems({ enabled: 'yes' })).toEqual([
      'tracing.enabled must be true or false (got yes)',
    ]);
    expect(problems({ tracerProvider: {} })).toEqual([
      expect.stringContaining('tracing.tracerProvider must be an OpenTelemetry TracerProvider'),
    ]);
    expect(problems({ tracer: {} })).toEqual([expect.stringContaining('tracing.tracer')]);
  });
});
