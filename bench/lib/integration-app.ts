import { Module, type INestApplicationContext } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { Pool, PoolClient } from 'pg';
import {
  DomainEventPublisher,
  EventSubscriberRegistry,
  IntegrationModule,
  OutboxProcessor,
  pgAdapter,
  type IntegrationDatabaseAdapter,
  type IntegrationEvent,
  type ProcessorOptions,
  type TransactionMode,
} from '../../src/integration';
import { pgOrm, type BenchOrm } from './bench-orm';
import { observabilityOptions, type BenchObservability } from './observability';
import { EVENT_NAME, consumerNames, payloadFor } from './workload';
import { nowMs } from './stats';

/** How the bench boots this library. */
export interface BenchAppOptions {
  readonly consumers: number;
  readonly listen: boolean;
  readonly processor?: ProcessorOptions;
  readonly transactional?: TransactionMode;
  /** The consumers' `concurrency` (events of different keys at once in a batch transaction). */
  readonly eventConcurrency?: number;
  /** Metrics and tracing on or off (see {@link BenchObservability}); unset: library defaults. */
  readonly observability?: BenchObservability;
  /** `notify.windowMs` (0: NOTIFY on every publish); unset: the library default. */
  readonly notifyWindowMs?: number;
}

/** A Nest application context with IntegrationModule on a pg pool (the processor is started by hand). */
export interface BenchApp {
  readonly app: INestApplicationContext;
  readonly publisher: DomainEventPublisher;
  readonly processor: OutboxProcessor;
  /** (event id, handler start, consumer transaction commit), ms since the epoch; when recording. */
  readonly observed: Array<[string, number, number]>;
  handled(): number;
  close(): Promise<void>;
}

type Payload = ReturnType<typeof payloadFor>;

/**
 * Wraps the pg adapter so the moment each consumer transaction's COMMIT returns is known: the
 * handler notes (event id, start) against its `ctx.tx`; the wrapper stamps them after commit.
 */
export function recordingAdapter(
  pool: Pool,
  observed: Array<[string, number, number]>,
  pending: Map<unknown, Array<[string, number]>>,
): IntegrationDatabaseAdapter<PoolClient> {
  return recording(pgAdapter(pool), observed, pending);
}

/** {@link recordingAdapter} around any adapter. */
function recording<TTx>(
  base: IntegrationDatabaseAdapter<TTx>,
  observed: Array<[string, number, number]>,
  pending: Map<unknown, Array<[string, number]>>,
): IntegrationDatabaseAdapter<TTx> {
  return {
    ...base,
    async transaction(fn, options) {
      let started: Array<[string, number]> = [];
      const result = await base.transaction(async (tx, sql) => {
        started = [];
        pending.set(tx, started);
        try {
          return await fn(tx, sql);
        } finally {
          pending.delete(tx);
        }
      }, options);
      const at = nowMs();
      for (const [id, start] of started) observed.push([id, start, at]);
      return result;
    },
  };
}

/**
 * Boots the library with `consumers` consumers of {@link EVENT_NAME}, each inserting one
 * projection row through `ctx.tx`: on `pool` with the pg adapter, or through `options.orm`'s
 * adapter and its ORM's way of writing a row.
 */
export async function createBenchApp(
  pool: Pool | undefined,
  options: BenchAppOptions & { record?: boolean; orm?: BenchOrm },
): Promise<BenchApp> {
  const observed: Array<[string, number, number]> = [];
  const pending = new Map<unknown, Array<[string, number]>>();
  const orm = options.orm ?? (pool ? pgOrm(pool) : undefined);
  if (!orm) throw new Error('createBenchApp needs a pg pool or an ORM');
  const database = options.record ? recording(orm.adapter, observed, pending) : orm.adapter;

  const observability = observabilityOptions(options.observability);
  @Module({
    imports: [
      IntegrationModule.forRoot({
        ...observability.options,
        database,
        notify: {
          enabled: options.listen,
          ...(options.notifyWindowMs === undefined ? {} : { windowMs: options.notifyWindowMs }),
        },
        processor: { ...options.processor, enabled: false },
      }),
    ],
  })
  class BenchModule {}

  const app = await NestFactory.createApplicationContext(BenchModule, {
    logger: ['error', 'warn'],
  });
  let handled = 0;
  const registry = app.get(EventSubscriberRegistry);
  for (const consumer of consumerNames(options.consumers)) {
    registry.register<Payload, unknown>({
      pattern: EVENT_NAME,
      consumer,
      name: `Projection.${consumer}`,
      transactional: options.transactional ?? 'batch',
      ...(options.eventConcurrency ? { concurrency: options.eventConcurrency } : {}),
      handle: async (event: IntegrationEvent<Payload>, ctx) => {
        const start = nowMs();
        await orm.insertProjection(ctx.tx, {
          eventId: event.id,
          consumer,
          orderId: event.payload.orderId,
          amount: event.payload.amount,
        });
        handled++;
        if (options.record) pending.get(ctx.tx)?.push([event.id, start]);
      },
    });
  }
  return {
    app,
    publisher: app.get(DomainEventPublisher),
    processor: app.get(OutboxProcessor),
    observed,
    handled: () => handled,
    close: async () => {
      await app.close();
      await observability.close();
    },
  };
}

/** The publish input of order `n`. */
export function eventFor(orderId: number): {
  name: string;
  aggregateType: string;
  aggregateId: string;
  payload: Payload;
} {
  return {
    name: EVENT_NAME,
    aggregateType: 'order',
    aggregateId: String(orderId),
    payload: payloadFor(orderId),
  };
}
