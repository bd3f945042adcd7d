import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';

/** The compiled app (`npm run build`, run by `pretest`). */
export const MAIN_JS = path.resolve(__dirname, '../../dist/src/main.js');

/** A spawned `node dist/src/main.js`, with its combined output. */
export interface AppProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the compiled app with `env` on top of the current environment. */
export function spawnApp(env: NodeJS.ProcessEnv): AppProcess {
  const child = spawn(process.execPath, [MAIN_JS], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { child, output: () => out, exited };
}

/** Polls `url` until it answers (any status) or `timeoutMs` passes. */
export async function waitForHttp(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fetch(url);
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Deterministic pseudo-random numbers (mulberry32), so a failure can be replayed. */
export function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One vault command sent over HTTP with its Idempotency-Key. */
export interface Op {
  readonly key: string;
  readonly path: string;
  readonly body: Record<string, unknown>;
  /** HTTP status, or 'lost' when the process died before answering. */
  status?: number | 'lost';
}

/** One app process on its port, started, killed or stopped at will (then started again). */
export class AppInstance {
  private proc?: AppProcess;
  constructor(
    readonly port: number,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Whether the process runs (started and not yet killed or stopped). */
  get running(): boolean {
    return this.proc !== undefined;
  }

  /** The output of the current (or last) process. */
  output(): string {
    return this.proc?.output() ?? '';
  }

  /** Starts the process and waits until `/health` answers 200. */
  async start(): Promise<void> {
    const proc = spawnApp({ ...this.env, PORT: String(this.port) });
    try {
      const res = await waitForHttp(`${this.url}/health`, 60_000);
      if (res.status !== 200) throw new Error(`health answered ${res.status}`);
    } catch (error) {
      proc.child.kill('SIGKILL');
      throw new Error(`app did not start: ${String(error)}\n${proc.output()}`, {
        cause: error,
      });
    }
    this.proc = proc;
  }

  /** SIGKILL: no shutdown hook runs, claims stay leased until their lease expires. */
  async kill(): Promise<void> {
    if (!this.proc) return;
    const proc = this.proc;
    this.proc = undefined;
    proc.child.kill('SIGKILL');
    await proc.exited;
  }

  /** SIGINT: graceful shutdown. */
  async stop(): Promise<void> {
    if (!this.proc) return;
    const proc = this.proc;
    this.proc = undefined;
    proc.child.kill('SIGINT');
    await proc.exited;
  }

  /** `GET /health`'s status, or 'lost' when nothing answers. */
  async health(): Promise<number | 'lost'> {
    try {
      const res = await fetch(`${this.url}/health`);
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 'lost';
    }
  }

  /** POSTs `op` with its Idempotency-Key; its status, or 'lost' when nothing answers. */
  async send(op: Pick<Op, 'key' | 'path' | 'body'>): Promise<number | 'lost'> {
    try {
      const res = await fetch(`${this.url}${op.path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': op.key },
        body: JSON.stringify(op.body),
      });
      await res.arrayBuffer();
      return res.status;
    } catch {
      return 'lost';
    }
  }
}

/** Runs ops with `concurrency` in flight; `onStart(i)` is called as op i starts. */
export async function drive(
  ops: Op[],
  send: (op: Op, i: number) => Promise<number | 'lost'>,
  concurrency: number,
  onStart?: (i: number) => void,
  stopped: () => boolean = () => false,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < ops.length && !stopped()) {
      const i = next++;
      onStart?.(i);
      ops[i]!.status = await send(ops[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

/**
 * `count` random commands on `vaults` (deposits, withdrawals, some beyond the balance, locks
 * and unlocks), keys `${prefix}-${i}`.
 */
export function planOps(vaults: string[], count: number, seed: number, prefix: string): Op[] {
  const random = prng(seed);
  return Array.from({ length: count }, (_, i) => {
    const vault = vaults[Math.floor(random() * vaults.length)]!;
    const r = random();
    const amountMinor = String(1 + Math.floor(random() * 500));
    const kind = r < 0.55 ? 'deposits' : r < 0.9 ? 'withdrawals' : r < 0.95 ? 'lock' : 'unlock';
    return {
      key: `${prefix}-${i}`,
      path: `/vaults/${vault}/${kind}`,
      body: kind === 'deposits' || kind === 'withdrawals' ? { amountMinor } : {},
    };
  });
}
