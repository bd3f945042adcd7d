import { InvalidIntegrationOptionsError } from './errors/invalid-options.error';
import type { IntegrationDatabaseAdapter } from './database/sql-executor';
import {
  DEFAULT_PROCESSOR_RETRY,
  resolveOptions,
  type IntegrationModuleOptions,
} from './integration.options';
import { JitterMode } from '../utils/retry';

// A stand-in adapter: option resolution never touches the database.
const database: IntegrationDatabaseAdapter = {
  kind: 'fake',
  root: { query: async () => ({ rows: [], rowCount: 0 }) },
  forTransaction: () => undefined,
  transaction: async (fn) => fn(undefined, { query: async () => ({ rows: [], rowCount: 0 }) }),
  listenConfig: () => ({ connectionString: 'postgres://x@127.0.0.1/db' }),
};

function problems(options: unknown): readonly string[] {
  try {
    resolveOptions(options as IntegrationModuleOptions);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidIntegrationOptionsError);
    return (error as InvalidIntegrationOptionsError).problems;
  }
  throw new Error('expected InvalidIntegrationOptionsError');
}

describe('resolveOptions', () => {
  it('fills every default', () => {
    const resolved = resolveOptions({ database });
    expect(resolved.notify).toEqual({
      enabled: true,
      channel: 'integration_outbox',
      connection: { connectionString: 'postgres://x@127.0.0.1/db' },
    });
    expect(resolved.outbox).toEqual({ maxPayloadBytes: 262_144, defaultSourceModule: null });
    expect(resolved.processor).toMatchObject({
      enabled: true,
      batchSize: 100,
      concurrency: 2,
      leaseMs: 30_000,
      idlePollIntervalMs: 1_000,
      retry: DEFAULT_PROCESSOR_RETRY,
      shutdownTimeoutMs: 10_000,
      handlerTimeoutMs: 30_000,
      startupDrain: true,
      intervalName: 'integration.outbox.poll',
      purge: { enabled: false, intervalMs: 3_600_000, olderThanMs: 604_800_000, batchSize: 1_000 },
    });
    expect(resolved.processor.workerId).toMatch(/^.+:\d+:[0-9a-f]{8}$/);
  });

  it('keeps given values and merges partial retry policies', () => {
    const resolved = resolveOptions({
      database,
      notify: { enabled: false, channel: 'my_channel' },
      outbox: { maxPayloadBytes: 1_024, defaultSourceModule: 'billing' },
      processor: {
        workerId: 'w1',
        batchSize: 10,
        retry: { maxAttempts: 3, jitter: JitterMode.None },
      },
    });
    expect(resolved.notify).toMatchObject({ enabled: false, channel: 'my_channel' });
    expect(resolved.outbox).toEqual({ maxPayloadBytes: 1_024, defaultSourceModule: 'billing' });
    expect(resolved.processor.retry).toEqual({
      ...DEFAULT_PROCESSOR_RETRY,
      maxAttempts: 3,
      jitter: JitterMode.None,
    });
    expect(resolved.processor).toMatchObject({ workerId: 'w1', batchSize: 10 });
  });

  it('lists every invalid field with how to fix it', () => {
    expect(
      problems({
        database: {},
        notify: { enabled: 'yes', channel: 'Bad-Channel; DROP' },
        outbox: { maxPayloadBytes: 0, defaultSourceModule: 5 },
        processor: {
          enabled: 1,
          startupDrain: 'no',
          workerId: '',
          batchSize: 0,
          concurrency: 65,
          leaseMs: 1.5,
          idlePollIntervalMs: -1,
          shutdownTimeoutMs: 'long',
          handlerTimeoutMs: 0,
          intervalName: '',
          retry: { maxAttempts: 0 },
          purge: { enabled: 'sometimes', intervalMs: 1, olderThanMs: -5, batchSize: 0 },
        },
        dispatcher: {},
      }),
    ).toEqual([
      'database must be an adapter: prismaAdapter(prisma), knexAdapter(knex) or pgAdapter(pool)',
      'notify.enabled must be true or false (got yes)',
      'notify.channel must be a lowercase identifier matching /^[a-z_][a-z0-9_]{0,62}$/ (got "Bad-Channel; DROP")',
      'outbox.maxPayloadBytes must be an integer from 1 to 268435456 (got 0)',
      'outbox.defaultSourceModule must be a string or null',
      'processor.enabled must be true or false (got 1)',
      'processor.startupDrain must be true or false (got no)',
      'processor.workerId must be a non-empty string of at most 200 characters',
      'processor.batchSize must be an integer from 1 to 10000 (got 0)',
      'processor.concurrency must be an integer from 1 to 64 (got 65)',
      'processor.leaseMs must be an integer from 100 to 86400000 (got 1.5)',
      'processor.idlePollIntervalMs must be an integer from 10 to 86400000 (got -1)',
      'processor.shutdownTimeoutMs must be an integer from 0 to 3600000 (got long)',
      'processor.handlerTimeoutMs must be an integer from 1 to 86400000 (got 0)',
      'processor.intervalName must be a non-empty string',
      'processor.retry.maxAttempts must be an integer >= 1 (got 0)',
      'processor.purge.enabled must be true or false (got sometimes)',
      'processor.purge.intervalMs must be an integer from 1000 to 9007199254740991 (got 1)',
      'processor.purge.olderThanMs must be an integer from 0 to 9007199254740991 (got -5)',
      'processor.purge.batchSize must be an integer from 1 to 100000 (got 0)',
      'dispatcher must implement dispatchBatch(events, context)',
    ]);
  });

  it('rejects a missing options object', () => {
    expect(problems(undefined)).toEqual(['options must be an object with at least { database }']);
  });

  it('formats the error message with one line per problem', () => {
    const error = new InvalidIntegrationOptionsError(['a is wrong', 'b is wrong']);
    expect(error.message).toBe(
      'Invalid IntegrationModule options:\n  - a is wrong\n  - b is wrong',
    );
    expect(error.name).toBe('InvalidIntegrationOptionsError');
  });
});
