import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/**
 * Benchmark workers are separate Node processes (compiled to dist/bench/workers/*.js), so a
 * processor instance has its own event loop and its own RSS, as it would in production.
 *
 * Protocol over IPC: parent → `{type:'args'}`; child sets up → `{type:'ready'}`; parent →
 * `{type:'go'}`; child runs → `{type:'result'}`; parent may send `{type:'stop'}` at any time
 * (the child's run sees it through `stopped()`); children may send `{type:'sample'}` messages.
 */
type ToChild = { type: 'args'; args: unknown } | { type: 'go' } | { type: 'stop' };
type ToParent =
  | { type: 'ready' }
  | { type: 'result'; result: unknown }
  | { type: 'error'; message: string }
  | { type: 'sample'; sample: unknown };

/** A running worker process, seen from the parent. */
export interface WorkerHandle<TResult, TSample = unknown> {
  readonly pid: number;
  /** Starts the measured phase. */
  go(): void;
  /** Asks the run to finish (it sees `stopped()` become true). */
  stop(): void;
  /** The run's result; rejects when the worker fails or exits without one. */
  readonly result: Promise<TResult>;
  readonly samples: TSample[];
}

/** Path of a compiled worker script, e.g. `workerScript('drain')`. */
export function workerScript(name: string): string {
  return path.join(__dirname, '..', 'workers', `${name}.worker.js`);
}

/** Forks a worker, hands it `args`, and resolves once it is set up (ready for {@link WorkerHandle.go}). */
export function startWorker<TResult, TSample = unknown>(
  script: string,
  args: unknown,
  options: { execPath?: string; execArgv?: string[] } = {},
): Promise<WorkerHandle<TResult, TSample>> {
  const child: ChildProcess = fork(script, [], {
    execPath: options.execPath,
    execArgv: options.execArgv ?? [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    serialization: 'advanced',
  });
  const samples: TSample[] = [];
  let settleResult!: { resolve: (r: TResult) => void; reject: (e: Error) => void };
  const result = new Promise<TResult>((resolve, reject) => (settleResult = { resolve, reject }));
  result.catch(() => undefined);
  return new Promise((resolveReady, rejectReady) => {
    let ready = false;
    let done = false;
    child.on('message', (raw) => {
      const msg = raw as ToParent;
      if (msg.type === 'ready') {
        ready = true;
        resolveReady({
          pid: child.pid!,
          go: () => child.send({ type: 'go' } satisfies ToChild),
          stop: () => {
            if (child.connected) child.send({ type: 'stop' } satisfies ToChild);
          },
          result,
          samples,
        });
      } else if (msg.type === 'sample') {
        samples.push(msg.sample as TSample);
      } else if (msg.type === 'result') {
        done = true;
        settleResult.resolve(msg.result as TResult);
      } else if (msg.type === 'error') {
        done = true;
        const error = new Error(`worker ${path.basename(script)} failed: ${msg.message}`);
        if (ready) settleResult.reject(error);
        else rejectReady(error);
      }
    });
    // A message sent while the child is exiting (e.g. stop right after its result) fails with
    // EPIPE on the ChildProcess; unhandled, that event would end the parent.
    child.on('error', (error) => {
      if (done) return;
      done = true;
      const failure = new Error(`worker ${path.basename(script)}: ${error.message}`);
      if (ready) settleResult.reject(failure);
      else rejectReady(failure);
    });
    child.on('exit', (code, signal) => {
      if (done) return;
      const error = new Error(
        `worker ${path.basename(script)} exited (${code ?? signal}) without a result`,
      );
      if (ready) settleResult.reject(error);
      else rejectReady(error);
    });
    child.send({ type: 'args', args } satisfies ToChild);
  });
}

/** The child side: `setup` runs before ready; `run` after go; its value is sent back. */
export function workerMain<TArgs, TResult>(
  main: (
    args: TArgs,
    io: {
      /** Resolves when the parent says go. */
      go: Promise<void>;
      /** True once the parent asked to stop. */
      stopped: () => boolean;
      /** Resolves when the parent asks to stop. */
      stopSignal: Promise<void>;
      ready: () => void;
      sample: (sample: unknown) => void;
    },
  ) => Promise<TResult>,
): void {
  let stopped = false;
  let onGo!: () => void;
  let onStop!: () => void;
  const go = new Promise<void>((resolve) => (onGo = resolve));
  const stopSignal = new Promise<void>((resolve) => (onStop = resolve));
  const send = (msg: ToParent): Promise<void> =>
    new Promise((resolve) => process.send!(msg, undefined, {}, () => resolve()));
  process.on('message', (raw) => {
    const msg = raw as ToChild;
    if (msg.type === 'args') {
      main(msg.args as TArgs, {
        go,
        stopped: () => stopped,
        stopSignal,
        ready: () => void send({ type: 'ready' }),
        sample: (sample) => void send({ type: 'sample', sample }),
      })
        .then((result) => send({ type: 'result', result }))
        .catch((error: unknown) =>
          send({
            type: 'error',
            message: error instanceof Error ? (error.stack ?? error.message) : String(error),
          }),
        )
        // The parent may have gone already (Node 24 throws on disconnecting twice).
        .finally(() => process.connected && process.disconnect());
    } else if (msg.type === 'go') onGo();
    else if (msg.type === 'stop') {
      stopped = true;
      onStop();
    }
  });
}

/** What a consumer worker reports while it runs. */
export interface WorkerSample {
  readonly handled: number;
  readonly rssBytes: number;
  readonly at: number;
}

/**
 * Samples this process's RSS (after a GC when `--expose-gc` is on) and reports `handled()`
 * every `everyMs` until `stop()`; `figures()` gives the RSS at start and at its peak.
 */
export class RssSampler {
  readonly startBytes: number;
  private peak: number;
  private timer?: NodeJS.Timeout;

  constructor() {
    global.gc?.();
    this.startBytes = process.memoryUsage().rss;
    this.peak = this.startBytes;
  }

  start(everyMs: number, handled: () => number, report: (sample: WorkerSample) => void): void {
    this.timer = setInterval(() => {
      const rss = process.memoryUsage().rss;
      this.peak = Math.max(this.peak, rss);
      report({ handled: handled(), rssBytes: rss, at: Date.now() });
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  figures(): { rssStartBytes: number; rssPeakBytes: number } {
    return { rssStartBytes: this.startBytes, rssPeakBytes: this.peak };
  }
}
