import { sqlExecutor } from './database/sql-executor.factory';
import { InvalidIntegrationOptionsError } from './errors/invalid-options.error';
import { InvalidPurgeOptionsError } from './errors/invalid-purge-options.error';
import type { IntegrationDatabaseAdapter } from './database/sql-executor';
import {
  assertPurgeArguments,
  DEFAULT_PROCESSOR_RETRY,
  MAX_PURGE_AGE_MS,
  resolveOptions,
  type IntegrationModuleOptions,
} from './integration.options';
import { JitterMode, MAX_TIMER_DELAY_MS } from './utils/retry';

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
      windowMs: 2,
    });
    expect(resolved.outbox).toEqual({ maxPayloadBytes: 262_144, defaultSourceModule: null });
    expect(resolved.processor).toMatchObject({
      enabled: true,
      batchSize: 100,
      concurrency: 2,
      leaseMs: 30_000,
      idlePollIntervalMs: 1_000,
      followUpPollMs: 10,
      retry: DEFAULT_PROCESSOR_RETRY,
      shutdownTimeoutMs: 10_000,
      handlerTimeoutMs: 30_000,
      startupDrain: true,
      intervalName: 'integration.outbox.poll',
      purge: { enabled: false, intervalMs: 3_600_000, olderThanMs: 604_800_000, batchSize: 1_000 },
    });
    expect(resolved.processor.workerId).toMatch(/^.+:\d+:[0-9a-f]{8}$/);
  });

  it('derives the health thresholds from the retry policy, handler timeout and lease', () => {
    expect(resolveOptions({ database }).health).toEqual({
      maxDueAgeMs: 330_000,
      maxLeaseAgeMs: 60_000,
      databaseTimeoutMs: 1_000,
      requireListen: false,
    });
    const tuned = resolveOptions({
      database,
      processor: { leaseMs: 5_000, handlerTimeoutMs: 2_000, retry: { maxDelayMs: 1_000 } },
    });
    expect(tuned.health).toMatchObject({ maxDueAgeMs: 7_000, maxLeaseAgeMs: 7_000 });
    expect(
      resolveOptions({
        database,
        health: {
          maxDueAgeMs: 300,
          maxLeaseAgeMs: 400,
          databaseTimeoutMs: 50,
          requireListen: true,
        },
      }).health,
    ).toEqual({ maxDueAgeMs: 300, maxLeaseAgeMs: 400, databaseTimeoutMs: 50, requireListen: true });
  });

  it('refuses bad health options, saying which', () => {
    expect(
      problems({
        database,
        health: {
          maxDueAgeMs: 0,
          maxLeaseAgeMs: 'soon',
          databaseTimeoutMs: 120_000,
          requireListen: 1,
          maxAge: 1,
        },
      }),
    ).toEqual([
      'health.maxAge is not an option: did you mean health.maxDueAgeMs? (known: maxDueAgeMs, maxLeaseAgeMs, databaseTimeoutMs, requireListen)',
      'health.maxDueAgeMs must be an integer from 100 to 2147483647 (got 0)',
      'health.maxLeaseAgeMs must be an integer from 100 to 2147483647 (got soon)',
      'health.databaseTimeoutMs must be an integer from 10 to 60000 (got 120000)',
      'health.requireListen must be true or false (got 1)',
    ]);
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
        notify: { enabled: 'yes', channel: 'Bad-Channel; DROP', windowMs: 5_000 },
        outbox: { maxPayloadBytes: 0, defaultSourceModule: 5 },
        processor: {
          enabled: 1,
          startupDrain: 'no',
          workerId: '',
          batchSize: 0,
          concurrency: 65,
          leaseMs: 1.5,
          idlePollIntervalMs: -1,
          followUpPollMs: 0.5,
          shutdownTimeoutMs: 'long',
          handlerTimeoutMs: 0,
          intervalName: '',
          retry: { maxAttempts: 0 },
          purge: { enabled: 'sometimes', intervalMs: 1, olderThanMs: -5, batchSize: 0 },
        },
        observers: [{}],
      }),
    ).toEqual([
      'database must be an adapter: prismaAdapter(prisma), knexAdapter(knex) or pgAdapter(pool)',
      'notify.enabled must be true or false (got yes)',
      'notify.windowMs must be an integer from 0 to 1000 (got 5000)',
      'notify.channel must be a lowercase identifier matching /^[a-z_][a-z0-9_]{0,62}$/ (got "Bad-Channel; DROP")',
      'outbox.maxPayloadBytes must be an integer from 1 to 268435456 (got 0)',
      'outbox.defaultSourceModule must be a string or null (got number)',
      'processor.enabled must be true or false (got 1)',
      'processor.startupDrain must be true or false (got no)',
      'processor.workerId must not be empty or blank',
      'processor.batchSize must be an integer from 1 to 10000 (got 0)',
      'processor.concurrency must be an integer from 1 to 64 (got 65)',
      'processor.leaseMs must be an integer from 100 to 86400000 (got 1.5)',
      'processor.idlePollIntervalMs must be an integer from 10 to 86400000 (got -1)',
      'processor.followUpPollMs must be an integer from 0 to 60000 (got 0.5)',
      'processor.shutdownTimeoutMs must be an integer from 0 to 3600000 (got long)',
      'processor.handlerTimeoutMs must be an integer from 1 to 86400000 (got 0)',
      'processor.intervalName must be a non-empty string',
      'processor.retry.maxAttempts must be an integer from 1 to 2147483647 (got 0)',
      'processor.purge.enabled must be true or false (got sometimes)',
      'processor.purge.intervalMs must be an integer from 1000 to 2147483647 (got 1)',
      'processor.purge.olderThanMs must be an integer from 0 to 3153600000000 (got -5)',
      'processor.purge.batchSize must be an integer from 1 to 100000 (got 0)',
      'observers must be an array of objects with an onEvent(event) method',
    ]);
  });

  it('resolves and checks the retention and stats options', () => {
    const { purge, stats } = resolveOptions({
      database,
      processor: { purge: { olderThanMs: 5_000 } },
    }).processor;
    expect(purge).toMatchObject({
      maxBatchesPerRun: 100,
      inboxRetentionMs: 5_000,
      auditRetentionMs: 90 * 86_400_000,
      statsRetentionMs: 14 * 86_400_000,
      deadLetterRetentionMs: null,
    });
    expect(stats).toEqual({ enabled: true, flushIntervalMs: 5_000 });
    expect(
      problems({
        database,
        processor: {
          purge: {
            maxBatchesPerRun: 0,
            inboxRetentionMs: -1,
            auditRetentionMs: 0.5,
            statsRetentionMs: 1_000,
            deadLetterRetentionMs: 'forever' as unknown as number,
          },
          stats: { enabled: 'yes' as unknown as boolean, flushIntervalMs: 10, every: 1 } as never,
        },
      }),
    ).toEqual([
      'processor.stats.every is not an option: did you mean processor.stats.enabled? (known: enabled, flushIntervalMs)',
      'processor.purge.maxBatchesPerRun must be an integer from 1 to 100000 (got 0)',
      'processor.purge.inboxRetentionMs must be an integer from 0 to 3153600000000 (got -1)',
      'processor.purge.auditRetentionMs must be an integer from 0 to 3153600000000 (got 0.5)',
      'processor.purge.statsRetentionMs must be an integer from 60000 to 3153600000000 (got 1000)',
      'processor.purge.deadLetterRetentionMs must be an integer from 0 to 3153600000000 (got forever)',
      'processor.stats.enabled must be true or false (got yes)',
      'processor.stats.flushIntervalMs must be an integer from 100 to 600000 (got 10)',
    ]);
    const kept = resolveOptions({
      database,
      processor: { purge: { deadLetterRetentionMs: null } },
    });
    expect(kept.processor.purge.deadLetterRetentionMs).toBeNull();
  });

  it('says what replaces an option that was removed, instead of guessing a name', () => {
    expect(problems({ database, dispatcher: {} })).toEqual([
      "dispatcher was removed: each consumer has its own deliveries now; register a consumer for every event instead: registry.registerConsumer('all', options) and registry.register({ consumer: 'all', pattern: '**', name: 'All.handle', handle })",
    ]);
  });

  it('rejects a missing options object, saying what to pass (hardening #8)', () => {
    for (const [missing, got] of [
      [undefined, 'undefined'],
      [null, 'null'],
      ['x', 'x'],
      [[], 'an array'],
    ]) {
      expect(problems(missing)).toEqual([
        `options must be an object such as { database: prismaAdapter(prisma) } (got ${String(got)}); with forRootAsync, make useFactory return that object`,
      ]);
    }
  });

  it('refuses millisecond options a timer or an SQL integer cannot hold (hardening #3, #4)', () => {
    const thirtyDays = 30 * 24 * 3_600_000;
    expect(
      problems({
        database,
        processor: {
          retry: { baseDelayMs: thirtyDays, maxDelayMs: thirtyDays },
          purge: { intervalMs: thirtyDays, olderThanMs: Number.MAX_SAFE_INTEGER, batchSize: 1.5 },
        },
      }),
    ).toEqual([
      'processor.retry.baseDelayMs must be an integer from 0 to 2147483647 (got 2592000000)',
      'processor.retry.maxDelayMs must be an integer from 0 to 2147483647 (got 2592000000)',
      'processor.purge.intervalMs must be an integer from 1000 to 2147483647 (got 2592000000)',
      'processor.purge.olderThanMs must be an integer from 0 to 3153600000000 (got 9007199254740991)',
      'processor.purge.batchSize must be an integer from 1 to 100000 (got 1.5)',
    ]);
    for (const batchSize of [0, -1, 1.5, NaN]) {
      expect(problems({ database, processor: { purge: { batchSize } } })).toEqual([
        `processor.purge.batchSize must be an integer from 1 to 100000 (got ${batchSize})`,
      ]);
    }
    // The limits themselves are accepted.
    const resolved = resolveOptions({
      database,
      processor: {
        retry: { baseDelayMs: MAX_TIMER_DELAY_MS, maxDelayMs: MAX_TIMER_DELAY_MS },
        purge: { intervalMs: MAX_TIMER_DELAY_MS, olderThanMs: MAX_PURGE_AGE_MS },
      },
    });
    expect(resolved.processor.purge).toMatchObject({
      intervalMs: 2_147_483_647,
      olderThanMs: 100 * 365 * 24 * 3_600_000,
    });
  });

  it('refuses unknown keys at every level, naming the closest known one (hardening #8)', () => {
    expect(
      problems({
        database,
        proccessor: { enabled: false },
        notify: { chanel: 'x' },
        outbox: { maxPayloadByte: 5 },
        processor: {
          batchsize: 5,
          retry: { maxAttempt: 3 },
          purge: { olderThan: 5 },
        },
      }),
    ).toEqual([
      'proccessor is not an option: did you mean processor? (known: database, notify, outbox, processor, health, verifySchema, schema, rowLevelSecurity, observers, tracing, metrics, context)',
      'notify.chanel is not an option: did you mean notify.channel? (known: enabled, channel, connection, windowMs)',
      'outbox.maxPayloadByte is not an option: did you mean outbox.maxPayloadBytes? (known: maxPayloadBytes, defaultSourceModule, shouldEnqueue, enrichMeta)',
      'processor.batchsize is not an option: did you mean processor.batchSize? (known: enabled, workerId, batchSize, concurrency, leaseMs, idlePollIntervalMs, followUpPollMs, retry, shutdownTimeoutMs, handlerTimeoutMs, startupDrain, intervalName, purge, stats)',
      'processor.purge.olderThan is not an option: did you mean processor.purge.olderThanMs? (known: enabled, intervalMs, olderThanMs, batchSize, maxBatchesPerRun, inboxRetentionMs, auditRetentionMs, statsRetentionMs, deadLetterRetentionMs)',
      'processor.retry.maxAttempt is not an option: did you mean processor.retry.maxAttempts? (known: baseDelayMs, maxDelayMs, maxAttempts, jitter)',
    ]);
    // verifySchema is a known top-level key (checked where it is declared).
    expect(() =>
      resolveOptions({ database, verifySchema: false } as IntegrationModuleOptions),
    ).not.toThrow();
    // rowLevelSecurity (issue 16): a boolean, off by default.
    expect(resolveOptions({ database } as IntegrationModuleOptions).rowLevelSecurity).toBe(false);
    expect(
      resolveOptions({ database, rowLevelSecurity: true } as IntegrationModuleOptions)
        .rowLevelSecurity,
    ).toBe(true);
    expect(
      problems({ database, rowLevelSecurity: 'yes' } as unknown as IntegrationModuleOptions),
    ).toEqual(['rowLevelSecurity must be true or false (got yes)']);
  });

  it('refuses sections that are not objects, and isGlobal inside the factory result (hardening #8)', () => {
    expect(
      problems({ database, notify: true, outbox: null, processor: { retry: 5, purge: [] } }),
    ).toEqual([
      'notify must be an object (got true)',
      'outbox must be an object (got null)',
      'processor.purge must be an object (got an array)',
      'processor.retry must be an object such as { maxAttempts: 5, baseDelayMs: 1000 } (got 5)',
    ]);
    expect(problems({ database, isGlobal: false })).toEqual([
      'isGlobal is not an option of the factory result: pass it to forRootAsync({ isGlobal, useFactory }) itself',
    ]);
  });

  it('refuses a workerId or defaultSourceModule PostgreSQL cannot store or that is blank or too long (hardening #8)', () => {
    const bad = ['', '   ', 'a\u0000b', 'x'.repeat(201), '\ud800'];
    expect(bad.flatMap((workerId) => problems({ database, processor: { workerId } }))).toEqual([
      'processor.workerId must not be empty or blank',
      'processor.workerId must not be empty or blank',
      'processor.workerId must not contain a NUL character (\\u0000): PostgreSQL cannot store it',
      'processor.workerId must be at most 200 characters (got 201)',
      'processor.workerId must be valid Unicode (it has a lone surrogate)',
    ]);
    expect(
      bad.flatMap((defaultSourceModule) => problems({ database, outbox: { defaultSourceModule } })),
    ).toEqual([
      'outbox.defaultSourceModule must not be empty or blank',
      'outbox.defaultSourceModule must not be empty or blank',
      'outbox.defaultSourceModule must not contain a NUL character (\\u0000): PostgreSQL cannot store it',
      'outbox.defaultSourceModule must be at most 200 characters (got 201)',
      'outbox.defaultSourceModule must be valid Unicode (it has a lone surrogate)',
    ]);
    expect(problems({ database, processor: { workerId: 7 } })).toEqual([
      'processor.workerId must be a string (got number)',
    ]);
    const ok = resolveOptions({
      database,
      processor: { workerId: 'w'.repeat(200) },
      outbox: { defaultSourceModule: 'm'.repeat(200) },
    });
    expect(ok.processor.workerId).toHaveLength(200);
    expect(
      resolveOptions({ database, outbox: { defaultSourceModule: null } }).outbox,
    ).toMatchObject({
      defaultSourceModule: null,
    });
  });

  it('checks purgeProcessed arguments with the rules of processor.purge (hardening #4)', () => {
    expect(() => assertPurgeArguments(undefined)).not.toThrow();
    expect(() => assertPurgeArguments({})).not.toThrow();
    expect(() =>
      assertPurgeArguments({ olderThanMs: MAX_PURGE_AGE_MS, batchSize: 100_000 }),
    ).not.toThrow();
    const error = (() => {
      try {
        assertPurgeArguments({ batchSize: 0, olderThanMs: Number.MAX_SAFE_INTEGER, batchsize: 1 });
      } catch (caught) {
        return caught as InvalidPurgeOptionsError;
      }
      throw new Error('expected InvalidPurgeOptionsError');
    })();
    expect(error).toBeInstanceOf(InvalidPurgeOptionsError);
    expect(error.name).toBe('InvalidPurgeOptionsError');
    expect(error.problems).toEqual([
      'options.batchsize is not an option: did you mean options.batchSize? (known: olderThanMs, batchSize)',
      'options.olderThanMs must be an integer from 0 to 3153600000000 (got 9007199254740991)',
      'options.batchSize must be an integer from 1 to 100000 (got 0)',
    ]);
    expect(error.message).toContain('nothing was deleted');
    expect(() => assertPurgeArguments(null)).toThrow(
      'options must be an object such as { olderThanMs, batchSize } (got null)',
    );
  });

  it('resolves the context options and publish hooks, refusing invalid ones (issue 16)', () => {
    expect(resolveOptions({ database }).context).toEqual({ cls: false, transactional: undefined });
    expect(resolveOptions({ database, context: { transactional: true } }).context).toEqual({
      cls: true,
      transactional: { connectionName: undefined },
    });
    expect(
      resolveOptions({ database, context: { cls: true, transactional: { connectionName: 'r' } } })
        .context,
    ).toEqual({ cls: true, transactional: { connectionName: 'r' } });
    const shouldEnqueue = () => true;
    expect(resolveOptions({ database, outbox: { shouldEnqueue } }).outbox.shouldEnqueue).toBe(
      shouldEnqueue,
    );
    expect(
      problems({
        database,
        outbox: { shouldEnqueue: 'no', enrichMeta: {} },
        context: { cls: 1, transactional: { connectionName: '' } },
      }),
    ).toEqual([
      'outbox.shouldEnqueue must be a function (event, context) => … (got no)',
      'outbox.enrichMeta must be a function (event, context) => … (got [object Object])',
      'context.cls must be true or false (got 1)',
      `context.transactional must be true, false or { connectionName: 'name given to ClsPluginTransactional' } (got {"connectionName":""})`,
    ]);
    expect(problems({ database, context: { cls: false, transactional: true } })).toEqual([
      'context.cls cannot be false with context.transactional: @nestjs-cls/transactional keeps its transactions in nestjs-cls; remove context.cls',
    ]);
    expect(problems({ database, context: { transactional: 'yes' } })).toHaveLength(1);
  });

  it('formats the error message with one line per problem', () => {
    const error = new InvalidIntegrationOptionsError(['a is wrong', 'b is wrong']);
    expect(error.message).toBe(
      'Invalid IntegrationModule options:\n  - a is wrong\n  - b is wrong',
    );
    expect(error.name).toBe('InvalidIntegrationOptionsError');
  });
});
