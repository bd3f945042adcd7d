import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { runCli } from '../../src/integration/cli/cli';

/** The compiled `nestjs-integration` bin (`npm run build`, run by `pretest`). */
export const CLI_JS = path.resolve(__dirname, '../../dist/src/integration/cli/main.js');

/** How a CLI run ended. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `node dist/src/integration/cli/main.js <args>` and resolves when it exits. `DATABASE_URL`
 * is removed from the inherited environment unless `env` sets it.
 */
export function runCliProcess(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<CliRun> {
  if (!existsSync(CLI_JS)) {
    throw new Error(`${CLI_JS} does not exist: run "npm run build" first`);
  }
  const { DATABASE_URL: _ignored, ...inherited } = process.env;
  const child = spawn(process.execPath, [CLI_JS, ...args], {
    env: { ...inherited, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Runs the CLI in this process (`runCli`, what the bin calls), capturing its output: for the
 * suites that test commands, not the spawned bin (that is schema-cli.e2e-spec.ts).
 */
export async function runCliInProcess(
  argv: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
  });
  return { code, stdout, stderr };
}
