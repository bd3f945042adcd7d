import { Inject, Injectable, Logger } from '@nestjs/common';
import { describeDatabaseError } from '../database/database-error';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { OutboxProcessor, ProcessorState } from '../processing/outbox.processor';
import { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';
import { BacklogSnapshot } from './backlog-snapshot';

/**
 * One check's entry, in the shape `@nestjs/terminus` reads (its `HealthIndicatorResult`
 * values): `status` decides, the other fields are details shown in the response.
 */
export interface IntegrationHealthDetails {
  readonly status: 'up' | 'down';
  readonly [detail: string]: unknown;
}

/**
 * What {@link IntegrationHealthIndicator.isLive} and {@link IntegrationHealthIndicator.isReady}
 * return: `{ [key]: details }`, assignable to Terminus's `HealthIndicatorResult`, so the methods
 * are health indicator functions as they are (`() => health.isReady()`).
 */
export type IntegrationHealthResult<Key extends string = string> = {
  readonly [K in Key]: IntegrationHealthDetails;
};

/** How one part of readiness stands: `skipped` parts do not count. */
type PartStatus = 'up' | 'down' | 'skipped';

/** One hosted consumer's measured progress. */
interface ConsumerProgress {
  readonly status: 'up' | 'down';
  readonly pending: number;
  readonly processing: number;
  readonly deadLetter: number;
  readonly oldestDueMs: number | null;
  readonly oldestLeaseMs: number | null;
}

/**
 * Liveness and readiness of this instance's part of the integration pipeline, for
 * `@nestjs/terminus` (the indicator does not import it: results have Terminus's shape, so the
 * package loads without it).
 *
 * ```ts
 * @Get('ready') @HealthCheck()
 * ready() { return this.health.check([() => this.integration.isReady()]); }
 * ```
 *
 * - {@link isLive} is up whenever the app answers: a stopped or stalled processor is not
 *   cured by a restart (a blocked handler would be redelivered and block again), so nothing
 *   here takes liveness down; its details show the processor's state.
 * - {@link isReady} checks the database (`SELECT 1` within `health.databaseTimeoutMs`), that
 *   the processor runs (an app with `processor.enabled: false` reports it `disabled`, not
 *   down), that each consumer this instance hosts makes progress (oldest due delivery younger
 *   than `health.maxDueAgeMs`, oldest lease younger than `health.maxLeaseAgeMs`, read from the
 *   shared, cached backlog snapshot) and whether LISTEN is connected (down only with
 *   `health.requireListen`: polling keeps working without it).
 *
 * Details say what was checked and what was measured; a down result lists why in `problems`.
 */
@Injectable()
export class IntegrationHealthIndicator {
  private readonly logger = new Logger('IntegrationHealth');
  /** Problems of the last readiness check, to log only changes (not every probe). */
  private lastProblems = '';

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly processor: OutboxProcessor,
    private readonly registry: EventSubscriberRegistry,
    private readonly backlog: BacklogSnapshot,
  ) {}

  /**
   * Liveness: always up while the app can answer; the details give the worker id and the
   * processor's state.
   */
  isLive<Key extends string = 'integration'>(
    key: Key = 'integration' as Key,
  ): Promise<IntegrationHealthResult<Key>> {
    return Promise.resolve(
      this.result(key, {
        status: 'up',
        workerId: this.options.processor.workerId,
        processor: this.processor.state,
      }),
    );
  }

  /** Readiness: database, processor, progress of the hosted consumers, LISTEN (see the class). */
  async isReady<Key extends string = 'integration'>(
    key: Key = 'integration' as Key,
  ): Promise<IntegrationHealthResult<Key>> {
    const problems: string[] = [];
    const database = await this.checkDatabase();
    if (database.status === 'down') problems.push(`database: ${String(database.error)}`);
    const processor = this.checkProcessor();
    if (processor.status === 'down') problems.push(`processor is ${this.processor.state}`);
    const running = this.processor.state === ProcessorState.Running;
    const progress =
      running && database.status === 'up'
        ? await this.checkProgress(problems)
        : {
            status: 'skipped' as const,
            reason:
              database.status === 'down' ? 'database unavailable' : 'processor not running here',
          };
    const listen = this.checkListen(running);
    if (listen.status === 'down' && this.options.health.requireListen) {
      problems.push('LISTEN connection lost (health.requireListen)');
    }
    this.logChange(problems);
    const status = problems.length > 0 ? 'down' : 'up';
    return this.result(key, {
      status,
      workerId: this.options.processor.workerId,
      ...(problems.length > 0 ? { problems } : {}),
      database,
      processor,
      progress,
      listen,
    });
  }

  private result<Key extends string>(
    key: Key,
    details: IntegrationHealthDetails,
  ): IntegrationHealthResult<Key> {
    return { [key]: details } as IntegrationHealthResult<Key>;
  }

  private async checkDatabase(): Promise<{
    status: 'up' | 'down';
    latencyMs?: number;
    timeoutMs: number;
    error?: string;
  }> {
    const timeoutMs = this.options.health.databaseTimeoutMs;
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.options.database.root.query('SELECT 1'),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`SELECT 1 took longer than ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      return { status: 'up', latencyMs: Math.round(performance.now() - started), timeoutMs };
    } catch (error) {
      return { status: 'down', timeoutMs, error: describeDatabaseError(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  private checkProcessor(): { status: PartStatus | 'disabled'; state: ProcessorState } {
    const state = this.processor.state;
    if (state === ProcessorState.Running) return { status: 'up', state };
    // An instance configured not to process (API-only, CLI) is ready without a processor; one
    // started by hand with start() is judged like any other.
    if (!this.options.processor.enabled && state === ProcessorState.Stopped) {
      return { status: 'disabled', state };
    }
    return { status: 'down', state };
  }

  private async checkProgress(problems: string[]): Promise<Record<string, unknown>> {
    const { maxDueAgeMs, maxLeaseAgeMs } = this.options.health;
    const hosted = new Set(this.registry.getConsumers());
    let backlog;
    try {
      backlog = await this.backlog.read();
    } catch (error) {
      const message = describeDatabaseError(error);
      problems.push(`backlog read failed: ${message}`);
      return { status: 'down', maxDueAgeMs, maxLeaseAgeMs, error: message };
    }
    const consumers: Record<string, ConsumerProgress> = {};
    let down = false;
    for (const b of backlog) {
      if (!hosted.has(b.consumer)) continue;
      const due = b.oldestDueMs !== null && b.oldestDueMs > maxDueAgeMs;
      const lease = b.oldestLeaseMs !== null && b.oldestLeaseMs > maxLeaseAgeMs;
      if (due) {
        problems.push(
          `${b.consumer}: oldest due delivery waits ${Math.round(b.oldestDueMs ?? 0)} ms (> ${maxDueAgeMs})`,
        );
      }
      if (lease) {
        problems.push(
          `${b.consumer}: oldest lease held ${Math.round(b.oldestLeaseMs ?? 0)} ms (> ${maxLeaseAgeMs})`,
        );
      }
      down ||= due || lease;
      consumers[b.consumer] = {
        status: due || lease ? 'down' : 'up',
        pending: b.pending,
        processing: b.processing,
        deadLetter: b.deadLetter,
        oldestDueMs: b.oldestDueMs === null ? null : Math.round(b.oldestDueMs),
        oldestLeaseMs: b.oldestLeaseMs === null ? null : Math.round(b.oldestLeaseMs),
      };
    }
    return { status: down ? 'down' : 'up', maxDueAgeMs, maxLeaseAgeMs, consumers };
  }

  private checkListen(running: boolean): {
    status: PartStatus;
    required: boolean;
    reason?: string;
  } {
    const { notify, health } = this.options;
    const required = health.requireListen;
    if (!notify.enabled) return { status: 'skipped', required, reason: 'notify.enabled: false' };
    if (!notify.connection) {
      return { status: 'skipped', required, reason: 'no LISTEN connection configured' };
    }
    if (!running) return { status: 'skipped', required, reason: 'processor not running here' };
    return { status: this.processor.listening ? 'up' : 'down', required };
  }

  /** One line when readiness goes down or its reasons change, one when it is back up. */
  private logChange(problems: readonly string[]): void {
    // Compared without the measured numbers, which change on every probe.
    const now = problems.join('; ').replace(/\d+/gu, '#');
    if (now === this.lastProblems) return;
    if (now) this.logger.warn(`Not ready: ${problems.join('; ')}`);
    else this.logger.log('Ready again');
    this.lastProblems = now;
  }
}
