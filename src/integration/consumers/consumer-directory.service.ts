import { Inject, Injectable, Logger } from '@nestjs/common';
import { InvalidQueryError } from '../errors/invalid-query.error';
import { UnknownConsumerError } from '../errors/unknown-consumer.error';
import { INTEGRATION_OPTIONS } from '../integration.constants';
import type { ResolvedIntegrationOptions } from '../integration.options';
import { EventSubscriberRegistry } from '../subscribers/event-subscriber.registry';
import { closestMatch } from '../utils/closest-match';
import {
  ConsumerDirectoryRepository,
  type AnnouncedConsumerInput,
} from './consumer-directory.repository';
import {
  checkConsumerName,
  checkRetireOptions,
  type RetireConsumerOptions,
} from './consumer-directory.validation';
import { ConsumerStatus, type ConsumerInfo, type RetireConsumerResult } from './consumer.types';

/** Where the heartbeat of {@link ConsumerDirectory} stands. */
export enum ConsumerHeartbeatState {
  /** Not started yet. */
  Idle = 'idle',
  /** Touching this instance's host rows every interval. */
  Running = 'running',
  /** Stopped: the timer is cleared and the host rows removed. */
  Stopped = 'stopped',
}

/** Longest heartbeat interval (a day): far inside the range of Node's timers. */
const MAX_HEARTBEAT_INTERVAL_MS = 86_400_000;

/**
 * The cluster's consumer directory as this instance sees it: announces the consumers it hosts
 * (and keeps their host rows alive), and retires, reactivates and lists consumers. Retiring is
 * explicit: a consumer that disappears from the code keeps getting deliveries (which wait for
 * it) until someone retires it, because a deploy that merely renamed or temporarily dropped it
 * must not lose its events.
 */
@Injectable()
export class ConsumerDirectory {
  private readonly logger = new Logger('ConsumerDirectory');
  private state = ConsumerHeartbeatState.Idle;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private intervalMs = 0;
  /** What the last {@link announceHosted} announced (re-announced when the host rows vanish). */
  private hosted: readonly AnnouncedConsumerInput[] = [];

  constructor(
    @Inject(INTEGRATION_OPTIONS) private readonly options: ResolvedIntegrationOptions,
    private readonly repository: ConsumerDirectoryRepository,
    private readonly registry: EventSubscriberRegistry,
  ) {}

  /** Where the heartbeat stands. */
  get heartbeatState(): ConsumerHeartbeatState {
    return this.state;
  }

  /**
   * Announces every consumer of the registry (name and its handlers' patterns) and this
   * instance as their host. Logs each consumer the database did not know, and an error for each
   * one that is retired there. Returns the names of the active ones: the consumers this
   * instance may deliver to.
   */
  async announceHosted(): Promise<string[]> {
    const consumers = this.registry
      .getConsumers()
      .map((name) => ({ name, patterns: this.registry.getConsumerPatterns(name) }));
    const retained = consumers
      .filter((c) => this.registry.getConsumerSettings(c.name)?.startFrom === 'retained')
      .map((c) => c.name);
    const { workerId } = this.options.processor;
    let backfilled = new Map<string, number>();
    const announced =
      retained.length === 0
        ? await this.repository.announce(this.options.database.root, workerId, consumers)
        : // A consumer that starts from the retained events is announced and backfilled with the
          // sequencer held, so nothing newer is fanned out to it before them.
          await this.options.database.transaction(async (_tx, sql) => {
            await this.repository.lockSequencer(sql);
            const stored = await this.repository.announce(sql, workerId, consumers);
            const created = retained.filter((name) => stored.get(name)?.created);
            backfilled = await this.repository.backfill(sql, created);
            return stored;
          });
    this.hosted = consumers;
    const active: string[] = [];
    for (const { name, patterns } of consumers) {
      const stored = announced.get(name);
      if (stored?.status === ConsumerStatus.Retired) {
        this.logger.error(
          `Consumer ${name} is retired: its handlers here get no deliveries. Reactivate it with ` +
            `ConsumerDirectory.reactivate('${name}') or \`npx nestjs-integration consumers reactivate ${name}\``,
        );
        continue;
      }
      active.push(name);
      if (stored?.created) {
        const history = backfilled.has(name)
          ? `, starting with ${backfilled.get(name)} retained event(s)`
          : '';
        this.logger.log(`Consumer ${name} registered for ${patterns.join(', ')}${history}`);
      } else if (stored?.patternsChanged) {
        this.logger.log(`Consumer ${name} now handles ${patterns.join(', ')}`);
      }
    }
    return active;
  }

  /**
   * Touches this instance's host rows every `intervalMs` (restarting the timer when already
   * running). A failed heartbeat is logged and the next one still runs; host rows found gone
   * (removed as stale after a long pause) are announced again.
   * @throws InvalidQueryError when `intervalMs` is not an integer from 1 to 86 400 000.
   */
  startHeartbeat(intervalMs: number): void {
    if (!Number.isInteger(intervalMs) || intervalMs < 1 || intervalMs > MAX_HEARTBEAT_INTERVAL_MS) {
      throw new InvalidQueryError(
        'ConsumerDirectory.startHeartbeat',
        'intervalMs',
        `must be an integer from 1 to ${MAX_HEARTBEAT_INTERVAL_MS} (got ${String(intervalMs)})`,
      );
    }
    clearTimeout(this.timer);
    this.intervalMs = intervalMs;
    this.state = ConsumerHeartbeatState.Running;
    this.schedule();
  }

  /**
   * Stops the heartbeat, waits for one in flight, and removes this instance's host rows.
   * Nothing is logged once it has resolved.
   */
  async stop(): Promise<void> {
    this.state = ConsumerHeartbeatState.Stopped;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
    if (this.hosted.length === 0) return;
    try {
      await this.repository.removeHost(this.options.database.root, this.options.processor.workerId);
    } catch (error) {
      this.logger.warn(
        `Could not remove the host rows of ${this.options.processor.workerId}: ${message(error)} ` +
          '(they stay until removed as stale)',
      );
    }
  }

  /**
   * Retires a consumer: it gets no new deliveries, and its pending, processing and dead-letter
   * deliveries are skipped (`last_error` = `consumer retired: <reason>`), in one statement.
   * Retiring a retired consumer skips what is still unfinished and returns `retired: false`.
   * @throws InvalidConsumerNameError, InvalidQueryError (options) before any SQL;
   * UnknownConsumerError when no instance ever announced `name`.
   */
  async retire(name: string, options?: RetireConsumerOptions): Promise<RetireConsumerResult> {
    const consumer = checkConsumerName(name, 'ConsumerDirectory.retire');
    const reason = checkRetireOptions(options, 'ConsumerDirectory.retire');
    const result = await this.repository.retire(this.options.database.root, consumer, reason);
    if (!result.retired && !(await this.repository.find(this.options.database.root, consumer))) {
      throw await this.unknown(consumer);
    }
    this.logger.log(
      `Consumer ${consumer} ${result.retired ? 'retired' : 'was retired already'} (${reason}): ` +
        `${result.skipped} unfinished deliveries skipped`,
    );
    return result;
  }

  /**
   * Makes a retired consumer active again; events sequenced while it was retired are not
   * delivered to it. Returns false when it was active already.
   * @throws InvalidConsumerNameError before any SQL; UnknownConsumerError for an unknown name.
   */
  async reactivate(name: string): Promise<boolean> {
    const consumer = checkConsumerName(name, 'ConsumerDirectory.reactivate');
    const changed = await this.repository.reactivate(this.options.database.root, consumer);
    if (!changed && !(await this.repository.find(this.options.database.root, consumer))) {
      throw await this.unknown(consumer);
    }
    if (changed) this.logger.log(`Consumer ${consumer} reactivated`);
    return changed;
  }

  /** Every consumer the cluster knows, by name, with its hosts and unfinished deliveries. */
  async list(): Promise<ConsumerInfo[]> {
    return this.repository.list(this.options.database.root);
  }

  /**
   * One consumer with its hosts and unfinished deliveries; undefined when unknown.
   * @throws InvalidConsumerNameError before any SQL.
   */
  async find(name: string): Promise<ConsumerInfo | undefined> {
    const consumer = checkConsumerName(name, 'ConsumerDirectory.find');
    return this.repository.find(this.options.database.root, consumer);
  }

  private async unknown(consumer: string): Promise<UnknownConsumerError> {
    const names = await this.repository.names(this.options.database.root);
    return new UnknownConsumerError(consumer, closestMatch(consumer, names));
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      this.inFlight = this.beat().finally(() => {
        this.inFlight = undefined;
        if (this.state === ConsumerHeartbeatState.Running) this.schedule();
      });
    }, this.intervalMs);
    // The heartbeat alone must not keep the process alive.
    this.timer.unref();
  }

  private async beat(): Promise<void> {
    const { root } = this.options.database;
    const { workerId } = this.options.processor;
    try {
      const touched = await this.repository.heartbeat(root, workerId);
      if (
        touched === 0 &&
        this.hosted.length > 0 &&
        this.state === ConsumerHeartbeatState.Running
      ) {
        await this.repository.announce(root, workerId, this.hosted);
        if (this.state === ConsumerHeartbeatState.Running) {
          this.logger.warn(
            `The host rows of ${workerId} were gone (removed as stale?): announced its consumers again`,
          );
        }
      }
    } catch (error) {
      if (this.state === ConsumerHeartbeatState.Running) {
        this.logger.warn(
          `Consumer heartbeat of ${workerId} failed: ${message(error)}; next in ${this.intervalMs} ms`,
        );
      }
    }
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
