import { execFileSync } from 'node:child_process';

/** A Node binary and its version. */
export interface NodeRuntime {
  readonly execPath: string;
  readonly version: string;
}

const resolved = new Map<string, NodeRuntime>();

/**
 * The Node binary of `spec` (e.g. `'24'`) from the npm package `node`, through
 * `npx -y -p node@<spec>`: fetched from the npm registry into npm's cache on first use (the
 * package's install script fetches the platform's `node-<os>-<arch>` package), reused after.
 * Not a devDependency: the package's `node` bin would land in node_modules/.bin and every npm
 * script of this project would then run on that Node instead of the machine's.
 */
export function nodeFromNpm(spec: string): NodeRuntime {
  const known = resolved.get(spec);
  if (known) return known;
  const out = execFileSync(
    'npx',
    ['-y', '-p', `node@${spec}`, 'node', '-p', 'process.execPath + "\\n" + process.version'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 300_000 },
  )
    .trim()
    .split('\n');
  const [execPath, version] = [out.at(-2), out.at(-1)];
  if (!execPath || !version?.startsWith(`v${spec}`))
    throw new Error(`npx -p node@${spec} gave no Node ${spec} binary (output: ${out.join(' ')})`);
  const runtime = { execPath, version };
  resolved.set(spec, runtime);
  return runtime;
}
