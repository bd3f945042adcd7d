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
