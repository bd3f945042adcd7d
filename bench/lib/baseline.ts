import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** The figures of a baseline run that a comparison reads (its latest.json, loosely typed). */
export interface BaselineResults {
  readonly rev: string;
  readonly commit: string;
  readonly drain?: ReadonlyArray<{
    readonly consumers: number;
    readonly instances: number;
    readonly eventsPerSec: { readonly median: number };
    readonly deliveriesPerSec: { readonly median: number };
  }>;
  readonly latency?: ReadonlyArray<{
    readonly rate: number;
    readonly listen: boolean;
    readonly toStart: { readonly p50: number; readonly p99: number };
  }>;
}

const ROOT = path.resolve(__dirname, '..', '..', '..');

/**
 * Builds git revision `rev` of this repository in a temporary folder (its files from
 * `git archive`, this checkout's `node_modules` and generated Prisma client, compiled with its
 * own tsconfig) and runs its own benchmark (`dist/bench/run.js --only=drain,latency`) against the
 * server at `adminUrl`, so a before/after comparison runs on one server in one run. Returns the
 * figures it wrote. The revision must build with today's dependencies.
 */
export async function runBaseline(
  rev: string,
  adminUrl: string,
  options: { repeats: number; quick: boolean; log: (message: string) => void },
): Promise<BaselineResults> {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], {
    cwd: ROOT,
    encoding: 'utf8',
  }).trim();
  const dir = await mkdtemp(path.join(tmpdir(), `ni-baseline-${commit.slice(0, 8)}-`));
  try {
    options.log(`baseline ${rev} (${commit.slice(0, 12)}): building in ${dir}`);
    execFileSync('sh', ['-c', `git archive ${commit} | tar -x -C "${dir}"`], { cwd: ROOT });
    await symlink(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    const generated = path.join(ROOT, 'src', 'generated');
    if (existsSync(generated))
      await cp(generated, path.join(dir, 'src', 'generated'), { recursive: true });
    execFileSync(
      process.execPath,
      [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: dir,
        stdio: 'inherit',
      },
    );
    execFileSync(process.execPath, ['scripts/copy-assets.js'], { cwd: dir, stdio: 'ignore' });
    options.log(`baseline ${rev}: running its drain and latency scenarios`);
    const args = [
      '--expose-gc',
      path.join(dir, 'dist', 'bench', 'run.js'),
      '--only=drain,latency',
      `--repeats=${options.repeats}`,
      ...(options.quick ? ['--quick'] : []),
    ];
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, args, {
        cwd: dir,
        env: { ...process.env, DATABASE_URL: adminUrl },
        stdio: ['ignore', 'ignore', 'inherit'],
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0 ? resolve() : reject(new Error(`baseline bench exited with ${code}`)),
      );
    });
    const json = JSON.parse(
      await readFile(path.join(dir, 'bench', 'results', 'latest.json'), 'utf8'),
    ) as { results: Omit<BaselineResults, 'rev' | 'commit'> };
    return { rev, commit, drain: json.results.drain, latency: json.results.latency };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
