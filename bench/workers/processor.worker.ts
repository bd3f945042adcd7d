import type { ProcessorOptions, TransactionMode } from '../../src/integration';
import { createBenchOrm, type BenchAdapter } from '../lib/bench-orm';
import { createBenchApp } from '../lib/integration-app';
import type { BenchObservability } from '../lib/observability';
import { RssSampler, workerMain, type WorkerSample } from '../lib/worker';

/** Arguments of one processor instance. */
export interface ProcessorWorkerArgs {
  readonly url: string;
  /** The library's adapter the processor runs on (default pg). */
  readonly adapter?: BenchAdapter;
  readonly consumers: number;
  readonly listen: boolean;
  readonly poolSize: number;
  readonly processor: ProcessorOptions;
  readonly transactional?: TransactionMode;
  /**
   * The bench consumer's `concurrency`; above 1 the pg pool is created with `pipeline: true`
   * (Knex and Prisma cannot pipeline: the library then runs one event at a time and warns).
   */
  readonly eventConcurrency?: number;
  /** Record (event id, start, commit) per delivery and return them. */
  readonly record: boolean;
  readonly sampleEveryMs: number;
  /** Metrics and tracing on or off; unset: the library's defaults. */
  readonly observability?: BenchObservability;
}

/** What the parent receives while it runs. */
export type ProcessorSample = WorkerSample;

/** The result of one instance. */
export interface ProcessorWorkerResult {
  readonly handled: number;
  readonly observed: Array<[string, number, number]>;
  readonly rssStartBytes: number;
  readonly rssPeakBytes: number;
  /** CPU time (user + system) from go to stop, µs. */
  readonly cpuMicros: number;
}

/** One processor instance in its own process: started on `go`, stopped on `stop`. */
workerMain<ProcessorWorkerArgs, ProcessorWorkerResult>(async (args, io) => {
  const orm = createBenchOrm(args.adapter ?? 'pg', args.url, args.poolSize, {
    pipeline: (args.eventConcurrency ?? 1) > 1,
  });
  const bench = await createBenchApp(undefined, {
    orm,
    consumers: args.consumers,
    listen: args.listen,
    processor: args.processor,
    transactional: args.transactional,
    eventConcurrency: args.eventConcurrency,
    record: args.record,
    observability: args.observability,
  });
  const memory = new RssSampler();
  io.ready();
  await io.go;
  const cpuAtGo = process.cpuUsage();
  memory.start(args.sampleEveryMs, bench.handled, io.sample);
  try {
    await bench.processor.start();
    await io.stopSignal;
  } finally {
    memory.stop();
    await bench.close();
    await orm.close();
  }
  const cpu = process.cpuUsage(cpuAtGo);
  return {
    handled: bench.handled(),
    observed: bench.observed,
    // Until stopped and closed: what stopping costs is the same in every mode.
    cpuMicros: cpu.user + cpu.system,
    ...memory.figures(),
  };
});
