import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const SNAPSHOT = 'test/e2e/public-surface.json';

/**
 * The runtime exports of the built package's entry points, loaded the way a user's app loads them:
 * a separate Node process requiring the package by its name (the root package.json's `exports`,
 * i.e. `dist/`; `npm test` builds first).
 */
function builtExports(): Record<string, string[]> {
  const script = `
    const out = {};
    for (const entry of ['.', './testing', './nats', './rabbitmq']) {
      const id = entry === '.' ? 'nestjs-integration' : 'nestjs-integration/' + entry.slice(2);
      out[entry] = Object.keys(require(id)).sort();
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const result = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`loading the built package failed:\n${result.stderr}`);
  return JSON.parse(result.stdout) as Record<string, string[]>;
}

describe('public surface', () => {
  it('the built package exports exactly the reviewed list of runtime symbols (surface #1)', () => {
    const expected = JSON.parse(readFileSync(join(ROOT, SNAPSHOT), 'utf8')) as Record<
      string,
      string[]
    >;
    const actual = builtExports();
    // On a deliberate change: update ${SNAPSHOT} and the "Public surface" section of
    // docs/architecture.md, and add a CHANGELOG entry.
    expect(actual).toEqual(expected);
  });

  it('keeps internals out of the barrel (surface #1)', () => {
    const exported = new Set(builtExports()['.']);
    for (const internal of [
      'SubscriberDispatcher',
      'OutboxRepository',
      'InboxRepository',
      'IntegrationLinkRepository',
      'resolveOptions',
      'compileEventPattern',
      'computeBackoffDelay',
      'describeDatabaseError',
      'toKnexBindings',
      'withoutSqlText',
      'INTEGRATION_DATABASE',
      'OUTBOX_DISPATCHER',
      'AdminOperations',
    ]) {
      expect({ internal, exported: exported.has(internal) }).toEqual({ internal, exported: false });
    }
  });
});
