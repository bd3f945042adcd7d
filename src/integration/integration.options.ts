import { Inject } from '@nestjs/common';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { unknownKeyProblems } from './utils/closest-match';
import {
  JitterMode,
  MAX_TIMER_DELAY_MS,
  resolveRetryPolicy,
  validateRetryPolicy,
  type RetryPolicy,
} from './utils/retry';
import type { IntegrationDatabaseAdapter, ListenConnectionConfig } from './database/sql-executor';
import { InvalidIntegrationOptionsError } from './errors/invalid-options.error';
import { InvalidSchemaNameError } from './errors/invalid-schema-name.error';
import { DEFAULT_INTEGRATION_SCHEMA, validateSchemaName } from './database/schema-name';
import { InvalidPurgeOptionsError } from './errors/invalid-purge-options.error';
import { MAX_TEXT_FIELD_LENGTH } from './events/event-validation';
import type { IntegrationLifecycleObserver } from './processing/lifecycle-events';
import type { TracerProviderLike } from './observability/tracing/otel-api';
import type { IntegrationContextValues } from './context/integration-context';
import type { PublishEventInput } from './events/integration-event';
import {
  metricsOptionsProblems,
  resolveMetricsOptions,
  type IntegrationMetricsOptions,
  type ResolvedMetricsOptions,
} from './observability/metrics/metrics.options';
import {
  DEFAULT_NOTIFY_CHANNEL,
  DEFAULT_PROCESSOR_INTERVAL_NAME,
  INTEGRATION_OPTIONS,
} from './integration.constants';

/** LISTEN/NOTIFY wake-ups. */
export interface NotifyOptions {
  /** Send NOTIFY on publish and LISTEN in the processor. @default true */
  readonly enabled?: boolean;
  /** Channel name (lowercase identifier). @default 'integration_outbox' */
  readonly channel?: string;
  /** Connection for LISTEN. @default what the database adapter reports (none for Prisma without `listenUrl`) */
  readonly connection?: ListenConnectionConfig;
  /**
   * At most one NOTIFY per this many ms per app instance: a publish within the window of the
   * instance's last NOTIFY sends none, and the processors' follow-up polls
   * (`processor.followUpPollMs`) pick its event up. PostgreSQL serializes the commits of
   * transactions that notified (each waits for the previous one's WAL flush), so notifying on
   * every publish halves the commit rate of concurrent publishers; publishes further apart than
   * the window notify every time. After a publish that sent none, once publishing has been
   * quiet for ten windows, the publisher sends one NOTIFY of its own (outside any transaction):
   * the window's own NOTIFY goes out only if its transaction commits. 0: every publish
   * notifies. 0 to 1000.
   * @default 2
   */
  readonly windowMs?: number;
}

/** Publishing. */
export interface OutboxOptions {
  /** Largest payload accepted, as UTF-8 JSON bytes. @default 262144 (256 KiB) */
  readonly maxPayloadBytes?: number;
  /**
   * `source_module` of events that do not name one: not blank, at most 200 characters
   * (`MAX_TEXT_FIELD_LENGTH`, as an event's own `sourceModule`), no NUL character. @default null
   */
  readonly defaultSourceModule?: string | null;
  /**
   * Decides whether an event is written at all: called for every valid event of every publish
   * call with the event as given and the context in effect; `false` drops that event (nothing
   * is written, its id in the result is `null`). Thrown errors reach the caller before anything
   * is written. @default every event is written
   */
  readonly shouldEnqueue?: ShouldEnqueueHook;
  /**
   * Headers added to every published event from what the context does not cover (a user
   * agent, a request id, …): merged under the caller's own headers (the caller's win), over
   * the module's defaults (`actor`, trace context). Must return string values. @default none
   */
  readonly enrichMeta?: EnrichMetaHook;
}

/** {@link OutboxOptions.shouldEnqueue}: `false` (or a promise of it) drops the event. */
export type ShouldEnqueueHook = (
  event: Readonly<PublishEventInput>,
  context: IntegrationContextValues,
) => boolean | Promise<boolean>;

/** {@link OutboxOptions.enrichMeta}: headers to add to the event (the caller's own win). */
export type EnrichMetaHook = (
  event: Readonly<PublishEventInput>,
  context: IntegrationContextValues,
) => Readonly<Record<string, string>>;

/**
 * Where the module keeps its request context, and which ambient transactions it joins (see
 * docs/context.md). Both need optional peers, loaded at start-up only when asked for here.
 */
export interface ContextOptions {
  /**
   * Keep `IntegrationContext` in nestjs-cls's `ClsService` (the app imports `ClsModule`),
   * so values set by the app's CLS middleware (see `integrationClsSetup`) are seen by the
   * module and the other way round. `false`: the module's own `AsyncLocalStorage`.
   * @default false (true when `transactional` is set)
   */
  readonly cls?: boolean;
  /**
   * Join `@nestjs-cls/transactional`: `publish(event)` / `publishMany(events)` without a
   * transaction write in the current `@Transactional()` transaction, and handlers run with
   * `ctx.tx` as the current transaction of that `TransactionHost` (so `@Transactional()`
   * services they call join it). `true` for the default connection, `{ connectionName }` for
   * a named one (as given to `ClsPluginTransactional`). @default false
   */
  readonly transactional?: boolean | { readonly connectionName?: string };
}

/**
 * Retention: what the processor deletes, and when. One instance at a time purges (an advisory
 * lock); the others skip that round. Every age below is checked at start against the retry
 * horizon of the consumers (see docs/operations.md, "Retention").
 */
export interface PurgeOptions {
  /** Purge on an interval while the processor runs. @default false */
  readonly enabled?: boolean;
  /** Time between purges: 1,000 to {@link MAX_TIMER_DELAY_MS} (2^31 − 1). @default 3600000 (1 hour) */
  readonly intervalMs?: number;
  /**
   * Keep finished events (every delivery processed or skipped) and their deliveries this long:
   * 0 to {@link MAX_PURGE_AGE_MS} (100 years). @default 604800000 (7 days)
   */
  readonly olderThanMs?: number;
  /** Rows deleted per statement (one short transaction each): 1 to 100,000. @default 1000 */
  readonly batchSize?: number;
  /**
   * Batches per table per purge round, at most: a large backlog is worked off over several
   * rounds instead of one long one. 1 to 100,000. @default 100
   */
  readonly maxBatchesPerRun?: number;
  /**
   * Keep `inbox_event` rows (the deduplication of messages from outside, `InboxService`) this
   * long after their last change: 0 to {@link MAX_PURGE_AGE_MS}; never shorter than the retry
   * horizon. @default olderThanMs
   */
  readonly inboxRetentionMs?: number;
  /** Keep `integration_audit` rows this long: 0 to {@link MAX_PURGE_AGE_MS}. @default 7776000000 (90 days) */
  readonly auditRetentionMs?: number;
  /** Keep `integration_consumer_stats` rows (per-minute throughput) this long: 60,000 to {@link MAX_PURGE_AGE_MS}. @default 1209600000 (14 days) */
  readonly statsRetentionMs?: number;
  /**
   * Delete dead-lettered deliveries this long after they became dead letters: 0 to
   * {@link MAX_PURGE_AGE_MS}; never shorter than the retry horizon. `null` keeps them until an
   * operator replays, discards or purges them. @default null
   */
  readonly deadLetterRetentionMs?: number | null;
}

/** The per-minute throughput recorder (`integration_consumer_stats`, read by the admin overview). */
export interface ConsumerStatsOptions {
  /** Record settled deliveries per consumer and minute while the processor runs. @default true */
  readonly enabled?: boolean;
  /** Time between writes (one statement each): 100 to 600,000. @default 5000 */
  readonly flushIntervalMs?: number;
}

/** The background processor. */
export interface ProcessorOptions {
  /** Run the polling loop. `false` for CLI, migration or API-only instances. @default true */
  readonly enabled?: boolean;
  /**
   * Identity recorded in `locked_by`: not blank, at most 200 characters, no NUL character.
   * @default `${hostname}:${pid}:${random}`
   */
  readonly workerId?: string;
  /**
   * Deliveries claimed per batch for each consumer this instance hosts (each consumer runs its
   * share in one transaction). @default 100
   */
  readonly batchSize?: number;
  /**
   * Batches this instance works on at once, each claimed separately (per-key order still
   * holds: a key with an event in flight is skipped by the next claim). Each in-flight batch
   * uses up to one connection per consumer plus one for claim and settle, so keep the pool
   * larger than `(concurrency + 1) × (consumers + 1)`: while a tenant's flood keeps the
   * sequencer behind, one small batch of light tenants' events (the tenant lane) runs beside
   * them. @default 2
   */
  readonly concurrency?: number;
  /** How long a claim is held before another instance may take it over. @default 30000 */
  readonly leaseMs?: number;
  /** Poll interval when idle (a NOTIFY wakes it sooner; a full batch loops at once). @default 1000 */
  readonly idlePollIntervalMs?: number;
  /**
   * After a run that claimed deliveries, the processor looks again this many ms later, then
   * twice as late after each run that found nothing, until the delay reaches
   * `idlePollIntervalMs`. It picks up what no NOTIFY announced: publishes inside
   * `notify.windowMs`, events of a transaction that committed after the run began, work with
   * NOTIFY off. 0: no follow-up polls. 0 to 60000.
   * @default 10
   */
  readonly followUpPollMs?: number;
  /**
   * Backoff for failed deliveries (each consumer may override it); after `maxAttempts` a
   * delivery becomes its consumer's dead letter.
   */
  readonly retry?: Partial<RetryPolicy>;
  /** Longest a shutdown waits for in-flight work before releasing its claims. @default 10000 */
  readonly shutdownTimeoutMs?: number;
  /** A handler running longer fails with a timeout error. @default 30000 */
  readonly handlerTimeoutMs?: number;
  /** Process the backlog right after start. @default true */
  readonly startupDrain?: boolean;
  /** Name of the polling interval in `SchedulerRegistry`. @default 'integration.outbox.poll' */
  readonly intervalName?: string;
  readonly purge?: PurgeOptions;
  readonly stats?: ConsumerStatsOptions;
}

/**
 * Thresholds of `IntegrationHealthIndicator.isReady` (readiness for `@nestjs/terminus`). Only
 * the consumers this instance hosts are judged, and only while its processor runs.
 */
export interface HealthOptions {
  /**
   * Readiness is down when a hosted consumer's oldest due delivery has waited longer than this
   * (ms). A delivery behind an earlier one of its ordering key counts as due, so the default
   * leaves room for that one's retry wait and a lease: lower it when you use no ordering keys
   * or a short retry policy. 100 to 2^31 − 1.
   * @default max(processor.retry.maxDelayMs, processor.handlerTimeoutMs) + processor.leaseMs (330000 with the defaults)
   */
  readonly maxDueAgeMs?: number;
  /**
   * Readiness is down when a hosted consumer's oldest lease was taken longer ago than this (ms):
   * a batch still running (its lease kept alive by this instance) or one whose instance died.
   * 100 to 2^31 − 1.
   * @default processor.handlerTimeoutMs + processor.leaseMs (60000 with the defaults)
   */
  readonly maxLeaseAgeMs?: number;
  /** Longest the readiness check's `SELECT 1` may take before the database counts as down (ms). 10 to 60000. @default 1000 */
  readonly databaseTimeoutMs?: number;
  /**
   * Readiness is down while the LISTEN connection is lost. Off by default: polling keeps the
   * processor working (every `processor.idlePollIntervalMs`), so it is only reported. @default false
   */
  readonly requireListen?: boolean;
}

/** OpenTelemetry tracing (needs the optional peer `@opentelemetry/api`; see docs/observability.md). */
export interface TracingOptions {
  /**
   * Record spans: a PRODUCER span per published event (its W3C `traceparent` and `tracestate`
   * go into the event's headers) and a CONSUMER span per delivery around the consumer's
   * handlers. Without `@opentelemetry/api` installed this is a no-op. @default true
   */
  readonly enabled?: boolean;
  /**
   * Where the module's tracer comes from (structurally an OpenTelemetry `TracerProvider`).
   * The module never registers a global provider. @default the API's global provider
   * (`trace.getTracerProvider()`)
   */
  readonly tracerProvider?: TracerProviderLike;
}

/** Options of `IntegrationModule.forRoot` / `forRootAsync`. */
export interface IntegrationModuleOptions<TTx = unknown> {
  /** `prismaAdapter(prisma)`, `knexAdapter(knex)` or `pgAdapter(pool)`. */
  readonly database: IntegrationDatabaseAdapter<TTx>;
  readonly notify?: NotifyOptions;
  readonly outbox?: OutboxOptions;
  readonly processor?: ProcessorOptions;
  /** Thresholds of `IntegrationHealthIndicator`'s readiness. */
  readonly health?: HealthOptions;
  /**
   * Check at bootstrap that the module's tables and columns exist, and fail the app once with
   * `IntegrationSchemaMissingError` naming what is missing. `false` for apps that create the
   * tables after boot (e.g. a migration job that boots the module first). @default true
   */
  readonly verifySchema?: boolean;
  /**
   * PostgreSQL schema that holds the module's tables (`outbox_event`, `integration_delivery`,
   * `integration_consumer`, `integration_consumer_host`, `integration_sequencer`, `inbox_event`,
   * `integration_link`): every statement names them schema-qualified and quoted, so the
   * connection's `search_path` plays no part. A plain lowercase identifier matching
   * {@link SCHEMA_NAME_PATTERN}; the schema and its tables must exist (the check of
   * `verifySchema` looks there). @default 'public'
   */
  readonly schema?: string;
  /**
   * The module runs its own statements for a tenant with PostgreSQL row-level security in
   * mind: before them, in the same transaction, it sets the session setting
   * `nestjs_integration.tenant_id` (`set_config(…, true)`, transaction-local) to the tenant of
   * the call (explicit `tenantId`, else `IntegrationContext`): the publish INSERT in the
   * caller's transaction, and the admin, inbox and link queries. Turn it on after
   * `enableRowLevelSecurity(client)` created the policies (see docs/tenancy.md). Off: no
   * setting is sent and nothing costs more. @default false
   */
  readonly rowLevelSecurity?: boolean;
  /** Receive the delivery pipeline's lifecycle events (see `IntegrationLifecycle`). @default [] */
  readonly observers?: readonly IntegrationLifecycleObserver[];
  readonly tracing?: TracingOptions;
  /**
   * Export Prometheus metrics through the optional peer `prom-client` into the registry given
   * here (see docs/observability.md). Without it no metric exists and prom-client is never
   * loaded. @default undefined (no metrics)
   */
  readonly metrics?: IntegrationMetricsOptions;
  /** Request context in nestjs-cls and ambient `@Transactional()` transactions. */
  readonly context?: ContextOptions;
}

/** Options after defaults, as the module's services see them. */
export interface ResolvedIntegrationOptions<TTx = unknown> {
  readonly database: IntegrationDatabaseAdapter<TTx>;
  readonly notify: {
    readonly enabled: boolean;
    readonly channel: string;
    readonly connection?: ListenConnectionConfig;
    readonly windowMs: number;
  };
  readonly outbox: {
    readonly maxPayloadBytes: number;
    readonly defaultSourceModule: string | null;
    readonly shouldEnqueue: ShouldEnqueueHook | undefined;
    readonly enrichMeta: EnrichMetaHook | undefined;
  };
  readonly processor: {
    readonly enabled: boolean;
    readonly workerId: string;
    readonly batchSize: number;
    readonly concurrency: number;
    readonly leaseMs: number;
    readonly idlePollIntervalMs: number;
    readonly followUpPollMs: number;
    readonly retry: RetryPolicy;
    readonly shutdownTimeoutMs: number;
    readonly handlerTimeoutMs: number;
    readonly startupDrain: boolean;
    readonly intervalName: string;
    readonly purge: Required<PurgeOptions>;
    readonly stats: Required<ConsumerStatsOptions>;
  };
  readonly health: Required<HealthOptions>;
  readonly verifySchema: boolean;
  readonly schema: string;
  readonly rowLevelSecurity: boolean;
  readonly observers: readonly IntegrationLifecycleObserver[];
  readonly tracing: {
    readonly enabled: boolean;
    readonly tracerProvider: TracerProviderLike | undefined;
  };
  readonly metrics?: ResolvedMetricsOptions;
  readonly context: {
    readonly cls: boolean;
    /** Set when handlers and `publish(event)` join `@nestjs-cls/transactional`. */
    readonly transactional: { readonly connectionName: string | undefined } | undefined;
  };
}

/** Retry defaults of the processor. */
export const DEFAULT_PROCESSOR_RETRY: RetryPolicy = resolveRetryPolicy({
  baseDelayMs: 1_000,
  maxDelayMs: 300_000,
  maxAttempts: 10,
  jitter: JitterMode.Full,
});

const CHANNEL_PATTERN = /^[a-z_][a-z0-9_]{0,62}$/;

/** Why `value` cannot be the `schema` option (at `path`), or undefined when it can. */
export function schemaNameProblem(value: unknown, path = 'schema'): string | undefined {
  try {
    validateSchemaName(value);
    return undefined;
  } catch (error) {
    if (!(error instanceof InvalidSchemaNameError)) throw error;
    return `${path}: ${error.message}`;
  }
}

/** Longest `processor.purge.olderThanMs` (100 years): far inside PostgreSQL's interval range. */
export const MAX_PURGE_AGE_MS = 100 * 365 * 24 * 3_600_000;

const DAY_MS = 24 * 3_600_000;
/** Default of `processor.purge.olderThanMs` (7 days). */
const DEFAULT_EVENT_RETENTION_MS = 7 * DAY_MS;

/** Longest `processor.workerId` (a lease owner is compared on every settle: keep it short). */
const MAX_WORKER_ID_LENGTH = 200;

/** The keys of `T`, checked by the compiler to be exactly those of the interface. */
const keysOf = <T>(keys: Record<keyof T, true>): readonly string[] => Object.keys(keys);

// Known keys per level: anything else is refused as a likely typo.
const TOP_LEVEL_KEYS = keysOf<IntegrationModuleOptions>({
  database: true,
  notify: true,
  outbox: true,
  processor: true,
  health: true,
  verifySchema: true,
  schema: true,
  rowLevelSecurity: true,
  observers: true,
  tracing: true,
  metrics: true,
  context: true,
});
const CONTEXT_KEYS = keysOf<ContextOptions>({ cls: true, transactional: true });
const TRACING_KEYS = keysOf<TracingOptions>({ enabled: true, tracerProvider: true });
/** Options of earlier versions, with what replaces them (said instead of "did you mean"). */
const REMOVED_OPTIONS: Readonly<Record<string, string>> = {
  dispatcher:
    "each consumer has its own deliveries now; register a consumer for every event instead: registry.registerConsumer('all', options) and registry.register({ consumer: 'all', pattern: '**', name: 'All.handle', handle })",
};
const NOTIFY_KEYS = keysOf<NotifyOptions>({
  enabled: true,
  channel: true,
  connection: true,
  windowMs: true,
});
const OUTBOX_KEYS = keysOf<OutboxOptions>({
  maxPayloadBytes: true,
  defaultSourceModule: true,
  shouldEnqueue: true,
  enrichMeta: true,
});
const PROCESSOR_KEYS = keysOf<ProcessorOptions>({
  enabled: true,
  workerId: true,
  batchSize: true,
  concurrency: true,
  leaseMs: true,
  idlePollIntervalMs: true,
  followUpPollMs: true,
  retry: true,
  shutdownTimeoutMs: true,
  handlerTimeoutMs: true,
  startupDrain: true,
  intervalName: true,
  purge: true,
  stats: true,
});
const HEALTH_KEYS = keysOf<HealthOptions>({
  maxDueAgeMs: true,
  maxLeaseAgeMs: true,
  databaseTimeoutMs: true,
  requireListen: true,
});
const PURGE_KEYS = keysOf<PurgeOptions>({
  enabled: true,
  intervalMs: true,
  olderThanMs: true,
  batchSize: true,
  maxBatchesPerRun: true,
  inboxRetentionMs: true,
  auditRetentionMs: true,
  statsRetentionMs: true,
  deadLetterRetentionMs: true,
});
const STATS_KEYS = keysOf<ConsumerStatsOptions>({ enabled: true, flushIntervalMs: true });
/** Arguments of `IntegrationAdminService.purgeProcessed`. */
const PURGE_ARGUMENT_KEYS = ['olderThanMs', 'batchSize'] as const;

/** Arguments of `IntegrationAdminService.purgeProcessed`; each falls back to `processor.purge`. */
export interface PurgeArguments {
  /** Delete processed events older than this: 0 to {@link MAX_PURGE_AGE_MS}. */
  readonly olderThanMs?: number;
  /** Rows deleted per statement: 1 to 100,000. */
  readonly batchSize?: number;
}

function intProblem(value: unknown, path: string, min: number, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    return `${path} must be an integer from ${min} to ${max} (got ${String(value)})`;
  }
  return undefined;
}

/** Problems with purge settings: one rule set for `processor.purge` and `purgeProcessed()`. */
function purgeProblems(purge: Partial<PurgeOptions>, path: string): string[] {
  return [
    intProblem(purge.intervalMs, `${path}.intervalMs`, 1_000, MAX_TIMER_DELAY_MS),
    intProblem(purge.olderThanMs, `${path}.olderThanMs`, 0, MAX_PURGE_AGE_MS),
    intProblem(purge.batchSize, `${path}.batchSize`, 1, 100_000),
    intProblem(purge.maxBatchesPerRun, `${path}.maxBatchesPerRun`, 1, 100_000),
    intProblem(purge.inboxRetentionMs, `${path}.inboxRetentionMs`, 0, MAX_PURGE_AGE_MS),
    intProblem(purge.auditRetentionMs, `${path}.auditRetentionMs`, 0, MAX_PURGE_AGE_MS),
    intProblem(purge.statsRetentionMs, `${path}.statsRetentionMs`, 60_000, MAX_PURGE_AGE_MS),
    purge.deadLetterRetentionMs === null
      ? undefined
      : intProblem(
          purge.deadLetterRetentionMs,
          `${path}.deadLetterRetentionMs`,
          0,
          MAX_PURGE_AGE_MS,
        ),
  ].filter((problem): problem is string => problem !== undefined);
}

/**
 * Checks the arguments of `IntegrationAdminService.purgeProcessed` with the rules of `processor.purge`,
 * before any SQL runs.
 * @throws InvalidPurgeOptionsError listing every problem (unknown keys included).
 */
export function assertPurgeArguments(args: unknown): asserts args is PurgeArguments {
  if (args === undefined) return;
  const problems =
    typeof args !== 'object' || args === null || Array.isArray(args)
      ? [
          `options must be an object such as { olderThanMs, batchSize } (got ${describeValue(args)})`,
        ]
      : [
          ...unknownKeyProblems(args, PURGE_ARGUMENT_KEYS, 'options'),
          ...purgeProblems(args as PurgeArguments, 'options'),
        ];
  if (problems.length) throw new InvalidPurgeOptionsError(problems);
}

/** Why `value` cannot be a short identifier stored in a `text` column, or undefined. */
function textProblem(
  value: unknown,
  path: string,
  maxLength: number,
  type = 'a string',
): string | undefined {
  if (typeof value !== 'string') return `${path} must be ${type} (got ${typeof value})`;
  if (value.trim().length === 0) return `${path} must not be empty or blank`;
  if (value.length > maxLength)
    return `${path} must be at most ${maxLength} characters (got ${value.length})`;
  if (value.includes('\u0000'))
    return `${path} must not contain a NUL character (\\u0000): PostgreSQL cannot store it`;
  if (!value.isWellFormed()) return `${path} must be valid Unicode (it has a lone surrogate)`;
  return undefined;
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const describeValue = (value: unknown): string =>
  Array.isArray(value) ? 'an array' : String(value);

/** Merges defaults and validates; throws {@link InvalidIntegrationOptionsError} listing every problem. */
export function resolveOptions<TTx>(
  options: IntegrationModuleOptions<TTx>,
): ResolvedIntegrationOptions<TTx> {
  const problems: string[] = [];
  if (!isPlainObject(options)) {
    throw new InvalidIntegrationOptionsError([
      `options must be an object such as { database: prismaAdapter(prisma) } (got ${describeValue(options)}); ` +
        'with forRootAsync, make useFactory return that object',
    ]);
  }
  if ('isGlobal' in options) {
    problems.push(
      'isGlobal is not an option of the factory result: pass it to forRootAsync({ isGlobal, useFactory }) itself',
    );
  }
  for (const [key, replacement] of Object.entries(REMOVED_OPTIONS)) {
    if (key in options) problems.push(`${key} was removed: ${replacement}`);
  }
  problems.push(
    ...unknownKeyProblems(
      Object.fromEntries(
        Object.entries(options).filter(([key]) => key !== 'isGlobal' && !(key in REMOVED_OPTIONS)),
      ),
      TOP_LEVEL_KEYS,
      '',
    ),
  );
  const db = options.database as Partial<IntegrationDatabaseAdapter<TTx>> | undefined;
  if (
    !db ||
    typeof db.transaction !== 'function' ||
    typeof db.forTransaction !== 'function' ||
    !db.root
  ) {
    problems.push(
      'database must be an adapter: prismaAdapter(prisma), knexAdapter(knex) or pgAdapter(pool)',
    );
  }
  const int = (value: unknown, path: string, min: number, max = MAX_TIMER_DELAY_MS): void => {
    const problem = intProblem(value, path, min, max);
    if (problem) problems.push(problem);
  };
  const bool = (value: unknown, path: string): void => {
    if (value !== undefined && typeof value !== 'boolean')
      problems.push(`${path} must be true or false (got ${String(value)})`);
  };
  /** A nested options object: refused when not an object, its unknown keys refused. */
  const section = <T extends object>(value: unknown, path: string, known: readonly string[]) => {
    if (value === undefined) return {} as Partial<T>;
    if (!isPlainObject(value)) {
      problems.push(`${path} must be an object (got ${describeValue(value)})`);
      return {} as Partial<T>;
    }
    problems.push(...unknownKeyProblems(value, known, path));
    return value as Partial<T>;
  };
  const n = section<NotifyOptions>(options.notify, 'notify', NOTIFY_KEYS);
  const o = section<OutboxOptions>(options.outbox, 'outbox', OUTBOX_KEYS);
  const p = section<ProcessorOptions>(options.processor, 'processor', PROCESSOR_KEYS);
  const purge = section<PurgeOptions>(p.purge, 'processor.purge', PURGE_KEYS);
  const stats = section<ConsumerStatsOptions>(p.stats, 'processor.stats', STATS_KEYS);
  const h = section<HealthOptions>(options.health, 'health', HEALTH_KEYS);
  bool(options.verifySchema, 'verifySchema');
  bool(options.rowLevelSecurity, 'rowLevelSecurity');
  if (options.schema !== undefined) {
    const problem = schemaNameProblem(options.schema);
    if (problem) problems.push(problem);
  }
  bool(n.enabled, 'notify.enabled');
  int(n.windowMs, 'notify.windowMs', 0, 1_000);
  if (
    n.channel !== undefined &&
    (typeof n.channel !== 'string' || !CHANNEL_PATTERN.test(n.channel))
  ) {
    problems.push(
      `notify.channel must be a lowercase identifier matching ${CHANNEL_PATTERN} (got ${JSON.stringify(n.channel)})`,
    );
  }
  int(o.maxPayloadBytes, 'outbox.maxPayloadBytes', 1, 256 * 1024 * 1024);
  if (o.defaultSourceModule !== undefined && o.defaultSourceModule !== null) {
    const problem = textProblem(
      o.defaultSourceModule,
      'outbox.defaultSourceModule',
      MAX_TEXT_FIELD_LENGTH,
      'a string or null',
    );
    if (problem) problems.push(problem);
  }
  bool(p.enabled, 'processor.enabled');
  bool(p.startupDrain, 'processor.startupDrain');
  if (p.workerId !== undefined) {
    const problem = textProblem(p.workerId, 'processor.workerId', MAX_WORKER_ID_LENGTH);
    if (problem) problems.push(problem);
  }
  int(p.batchSize, 'processor.batchSize', 1, 10_000);
  int(p.concurrency, 'processor.concurrency', 1, 64);
  int(p.leaseMs, 'processor.leaseMs', 100, 24 * 3_600_000);
  int(p.idlePollIntervalMs, 'processor.idlePollIntervalMs', 10, 24 * 3_600_000);
  int(p.followUpPollMs, 'processor.followUpPollMs', 0, 60_000);
  int(p.shutdownTimeoutMs, 'processor.shutdownTimeoutMs', 0, 3_600_000);
  int(p.handlerTimeoutMs, 'processor.handlerTimeoutMs', 1, 24 * 3_600_000);
  if (p.intervalName !== undefined && (typeof p.intervalName !== 'string' || !p.intervalName)) {
    problems.push('processor.intervalName must be a non-empty string');
  }
  if (p.retry !== undefined) problems.push(...validateRetryPolicy(p.retry, 'processor.retry'));
  int(h.maxDueAgeMs, 'health.maxDueAgeMs', 100);
  int(h.maxLeaseAgeMs, 'health.maxLeaseAgeMs', 100);
  int(h.databaseTimeoutMs, 'health.databaseTimeoutMs', 10, 60_000);
  bool(h.requireListen, 'health.requireListen');
  bool(purge.enabled, 'processor.purge.enabled');
  problems.push(...purgeProblems(purge, 'processor.purge'));
  bool(stats.enabled, 'processor.stats.enabled');
  int(stats.flushIntervalMs, 'processor.stats.flushIntervalMs', 100, 600_000);
  if (
    options.observers !== undefined &&
    (!Array.isArray(options.observers) ||
      !options.observers.every(
        (o: unknown) =>
          typeof o === 'object' &&
          o !== null &&
          typeof (o as { onEvent?: unknown }).onEvent === 'function',
      ))
  ) {
    problems.push('observers must be an array of objects with an onEvent(event) method');
  }
  const t = section<TracingOptions>(options.tracing, 'tracing', TRACING_KEYS);
  bool(t.enabled, 'tracing.enabled');
  if (
    t.tracerProvider !== undefined &&
    (typeof t.tracerProvider !== 'object' ||
      t.tracerProvider === null ||
      typeof (t.tracerProvider as { getTracer?: unknown }).getTracer !== 'function')
  ) {
    problems.push(
      'tracing.tracerProvider must be an OpenTelemetry TracerProvider (an object with getTracer(name)); omit it to use the global provider',
    );
  }
  if (options.metrics !== undefined) problems.push(...metricsOptionsProblems(options.metrics));
  for (const hook of ['shouldEnqueue', 'enrichMeta'] as const) {
    if (o[hook] !== undefined && typeof o[hook] !== 'function')
      problems.push(
        `outbox.${hook} must be a function (event, context) => … (got ${describeValue(o[hook])})`,
      );
  }
  const c = section<ContextOptions>(options.context, 'context', CONTEXT_KEYS);
  bool(c.cls, 'context.cls');
  const transactional = contextTransactional(c.transactional, problems);
  if (c.cls === false && transactional) {
    problems.push(
      'context.cls cannot be false with context.transactional: @nestjs-cls/transactional keeps its transactions in nestjs-cls; remove context.cls',
    );
  }
  if (problems.length) throw new InvalidIntegrationOptionsError(problems);

  const leaseMs = p.leaseMs ?? 30_000;
  const handlerTimeoutMs = p.handlerTimeoutMs ?? 30_000;
  const retry = resolveRetryPolicy(p.retry, DEFAULT_PROCESSOR_RETRY);
  return {
    database: options.database,
    notify: {
      enabled: n.enabled ?? true,
      channel: n.channel ?? DEFAULT_NOTIFY_CHANNEL,
      connection: n.connection ?? options.database.listenConfig(),
      windowMs: n.windowMs ?? 2,
    },
    outbox: {
      maxPayloadBytes: o.maxPayloadBytes ?? 256 * 1024,
      defaultSourceModule: o.defaultSourceModule ?? null,
      shouldEnqueue: o.shouldEnqueue,
      enrichMeta: o.enrichMeta,
    },
    processor: {
      enabled: p.enabled ?? true,
      workerId: p.workerId ?? `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`,
      batchSize: p.batchSize ?? 100,
      concurrency: p.concurrency ?? 2,
      leaseMs,
      idlePollIntervalMs: p.idlePollIntervalMs ?? 1_000,
      followUpPollMs: p.followUpPollMs ?? 10,
      retry,
      shutdownTimeoutMs: p.shutdownTimeoutMs ?? 10_000,
      handlerTimeoutMs,
      startupDrain: p.startupDrain ?? true,
      intervalName: p.intervalName ?? DEFAULT_PROCESSOR_INTERVAL_NAME,
      purge: {
        enabled: purge.enabled ?? false,
        intervalMs: purge.intervalMs ?? 3_600_000,
        olderThanMs: purge.olderThanMs ?? DEFAULT_EVENT_RETENTION_MS,
        batchSize: purge.batchSize ?? 1_000,
        maxBatchesPerRun: purge.maxBatchesPerRun ?? 100,
        inboxRetentionMs: purge.inboxRetentionMs ?? purge.olderThanMs ?? DEFAULT_EVENT_RETENTION_MS,
        auditRetentionMs: purge.auditRetentionMs ?? 90 * DAY_MS,
        statsRetentionMs: purge.statsRetentionMs ?? 14 * DAY_MS,
        deadLetterRetentionMs: purge.deadLetterRetentionMs ?? null,
      },
      stats: {
        enabled: stats.enabled ?? true,
        flushIntervalMs: stats.flushIntervalMs ?? 5_000,
      },
    },
    health: {
      // Capped at the timer limit like the options themselves (a threshold beyond it never trips).
      maxDueAgeMs:
        h.maxDueAgeMs ??
        Math.min(Math.max(retry.maxDelayMs, handlerTimeoutMs) + leaseMs, MAX_TIMER_DELAY_MS),
      maxLeaseAgeMs: h.maxLeaseAgeMs ?? Math.min(handlerTimeoutMs + leaseMs, MAX_TIMER_DELAY_MS),
      databaseTimeoutMs: h.databaseTimeoutMs ?? 1_000,
      requireListen: h.requireListen ?? false,
    },
    verifySchema: options.verifySchema ?? true,
    schema: options.schema ?? DEFAULT_INTEGRATION_SCHEMA,
    rowLevelSecurity: options.rowLevelSecurity ?? false,
    observers: options.observers ?? [],
    tracing: { enabled: t.enabled ?? true, tracerProvider: t.tracerProvider },
    metrics: options.metrics && resolveMetricsOptions(options.metrics),
    context: { cls: c.cls ?? transactional !== undefined, transactional },
  };
}

/** `context.transactional` resolved: `undefined` when off; a problem is pushed when invalid. */
function contextTransactional(
  value: ContextOptions['transactional'] | undefined,
  problems: string[],
): { connectionName: string | undefined } | undefined {
  if (value === undefined || value === false) return undefined;
  if (value === true) return { connectionName: undefined };
  const name = isPlainObject(value) ? value.connectionName : undefined;
  if (
    !isPlainObject(value) ||
    Object.keys(value).some((key) => key !== 'connectionName') ||
    (name !== undefined && (typeof name !== 'string' || !name))
  ) {
    problems.push(
      `context.transactional must be true, false or { connectionName: 'name given to ClsPluginTransactional' } (got ${JSON.stringify(value) ?? String(value)})`,
    );
    return undefined;
  }
  return { connectionName: name };
}

/** Injects the {@link ResolvedIntegrationOptions}. */
export const InjectIntegrationOptions = (): ParameterDecorator => Inject(INTEGRATION_OPTIONS);
