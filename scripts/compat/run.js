#!/usr/bin/env node
/**
 * `npm run test:compat`: the packed tarball installed into scratch apps, as users install it.
 *
 * Packs once (scripts/check-package.js's packTarball), then for each matrix entry, one after the
 * other (installs dominate; the 2-core machine is shared):
 *
 * 1. a scratch directory under os.tmpdir(), OUTSIDE the repository, so nothing resolves from the
 *    repository's node_modules; `"type": "module"` for Nest 12 (ESM-only), CommonJS for Nest 11;
 * 2. the app from scripts/compat/templates/ (<orm>/main.ts, Nest CLI's default tsconfig.json);
 * 3. `npm install <tarball> <the entry's packages>` from the registry (exact majors), with the
 *    entry's Node first in PATH, so npm, npx, tsc and the app all run on it;
 * 4. a fresh database; `npx nestjs-integration migrate --database-url …`;
 * 5. Prisma only: the scratch schema = template + `npx nestjs-integration prisma`, then
 *    `prisma generate` offline (PRISMA_SCHEMA_ENGINE_BINARY, as scripts/prisma-generate.js);
 * 6. `tsc -p tsconfig.json`, then `node dist/main.js`: the app publishes in a transaction, a
 *    handler in another module writes through ctx.tx and writes a link, the test kit
 *    (`nestjs-integration/testing`) drains, and the app asserts the effect row, the link row and
 *    the outbox row `processed` (exit 1 otherwise); a warning or error logged by Nest fails the
 *    entry too (LISTEN falling back to polling, say, would pass the assertions unnoticed).
 *    The optional peers (prom-client, @opentelemetry/api, @nestjs/terminus) are NOT installed:
 *    the app asserts they do not resolve, that no trace header was written, and that
 *    IntegrationHealthIndicator's isLive()/isReady() are up without Terminus. The `observability`
 *    entry installs them instead (templates/observability/main.ts): metrics in the app's
 *    registry, spans in the SDK's in-memory exporter, the indicator in Terminus's
 *    HealthCheckService.
 *
 * Node 22 and 24 come from the npm package `node` (`npx -y -p node@24`). The database is DATABASE_URL's
 * server when set (one database per entry, dropped afterwards), otherwise an embedded PostgreSQL
 * started as the test suite does (dist/src/database/embedded-postgres.js; builds if missing).
 *
 * Prints one line per entry and `N passed, N failed` last; exits 1 if any entry failed (its
 * scratch directory is kept for a look). `npm run test:compat -- <entry name>…` runs some only.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { packTarball } = require('../check-package');

const root = path.resolve(__dirname, '..', '..');
const templates = path.join(__dirname, 'templates');
const schemaEngineStub = path.join(root, 'scripts', 'schema-engine-stub.js');
/** A step that takes longer than this has hung (an install is about a minute). */
const STEP_TIMEOUT_MS = 5 * 60_000;

/**
 * The supported runtimes: Nest 11 on Node 20, Nest 12 (ESM-only) on Node 24, and Node 22 with
 * each Nest; Knex and Prisma 7.
 */
const MATRIX = [
  { name: 'node20-nest11-knex', node: 20, nest: 11, orm: 'knex' },
  { name: 'node20-nest11-prisma7', node: 20, nest: 11, orm: 'prisma' },
  { name: 'node22-nest11-prisma7', node: 22, nest: 11, orm: 'prisma' },
  { name: 'node22-nest12-knex', node: 22, nest: 12, orm: 'knex' },
  { name: 'node24-nest12-knex', node: 24, nest: 12, orm: 'knex' },
  { name: 'node24-nest12-prisma7', node: 24, nest: 12, orm: 'prisma' },
  // The optional peers installed and used (templates/observability/main.ts, Knex); the entries
  // above install none of them and their apps assert that (issue 14).
  {
    name: 'node24-nest12-knex-observability',
    node: 24,
    nest: 12,
    orm: 'knex',
    observability: true,
  },
];

/** The optional peers the observability entry installs (Terminus's major follows Nest's). */
function observabilityPeers(entry) {
  return [
    'prom-client@^15',
    '@opentelemetry/api@^1',
    '@opentelemetry/sdk-trace-base@^2',
    `@nestjs/terminus@^${entry.nest}`,
  ];
}

/** Registry packages of an entry, besides the tarball: exact majors. */
function dependencies(entry) {
  const common = [
    `@nestjs/common@^${entry.nest}`,
    `@nestjs/core@^${entry.nest}`,
    'reflect-metadata@^0.2',
    'rxjs@^7',
    'pg@^8',
    'typescript@~5.9',
    `@types/node@^${entry.node}`,
  ];
  const orm =
    entry.orm === 'knex'
      ? ['knex@^3', '@types/pg@^8']
      : ['@prisma/client@^7', '@prisma/adapter-pg@^7', 'prisma@^7'];
  return [...common, ...orm, ...(entry.observability ? observabilityPeers(entry) : [])];
}

class StepError extends Error {}

/** Runs one step of an entry; on failure throws with the step's output. */
function step(label, command, args, options) {
  const result = spawnSync(command, args, {
    encoding: 'utf8',
    timeout: STEP_TIMEOUT_MS,
    maxBuffer: 64 * 1024 * 1024,
    ...options,
  });
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim();
  if (result.error || result.status !== 0) {
    const why = result.error ? result.error.message : `exit ${result.status ?? result.signal}`;
    throw new StepError(`${label} failed (${why}): ${command} ${args.join(' ')}\n${output}`);
  }
  return result.stdout ?? '';
}

/** The node binary of a major: this process's when it matches, else the npm package `node`. */
function nodeBinary(major) {
  if (Number(process.versions.node.split('.')[0]) === major) return process.execPath;
  const out = step(`node ${major} from the npm package "node"`, 'npx', [
    '-y',
    '-p',
    `node@${major}`,
    'node',
    '-p',
    'process.execPath',
  ]);
  const binary = out.trim().split('\n').pop();
  if (!binary || !fs.existsSync(binary)) throw new StepError(`no node ${major} binary (${binary})`);
  return binary;
}

/** Where each entry's database comes from: DATABASE_URL's server, or an embedded one. */
async function databaseServer() {
  const { Client } = require('pg');
  let serverUrl = process.env.DATABASE_URL;
  let embedded;
  if (!serverUrl) {
    const compiled = path.join(root, 'dist', 'src', 'database', 'embedded-postgres.js');
    if (!fs.existsSync(compiled)) {
      step('npm run build', 'npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
    }
    const { EmbeddedPostgresServer } = require(compiled);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nestjs-integration-compat-pg-'));
    embedded = new EmbeddedPostgresServer({ dataDir, port: 0 });
    await embedded.start();
    serverUrl = embedded.url();
    embedded.dataDir = dataDir;
  }
  const admin = async (sql) => {
    const client = new Client({ connectionString: serverUrl });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };
  return {
    async create(name) {
      const database = `ni_compat_${name.replace(/\W/g, '_')}_${process.pid}`;
      await admin(`DROP DATABASE IF EXISTS ${database}`);
      await admin(`CREATE DATABASE ${database}`);
      const url = new URL(serverUrl);
      url.pathname = `/${database}`;
      return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${database}`) };
    },
    async stop() {
      if (!embedded) return;
      await embedded.stop();
      fs.rmSync(embedded.dataDir, { recursive: true, force: true });
    },
  };
}

function writeApp(dir, entry) {
  const esm = entry.nest >= 12;
  const manifest = {
    name: `compat-${entry.name}`,
    private: true,
    type: esm ? 'module' : 'commonjs',
  };
  fs.writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  fs.copyFileSync(path.join(templates, 'tsconfig.json'), path.join(dir, 'tsconfig.json'));
  fs.mkdirSync(path.join(dir, 'src'));
  const template = entry.observability ? 'observability' : entry.orm;
  fs.copyFileSync(path.join(templates, template, 'main.ts'), path.join(dir, 'src', 'main.ts'));
}

/** The compiled app loads the package the way the entry claims: ESM `import` or `require()`. */
function assertModuleFormat(dir, entry) {
  const compiled = fs.readFileSync(path.join(dir, 'dist', 'main.js'), 'utf8');
  const esm = /^import .* from 'nestjs-integration';$/m.test(compiled);
  const cjs = /require\("nestjs-integration"\)/.test(compiled);
  const wanted = entry.nest >= 12 ? 'an ESM import' : 'a require()';
  if (entry.nest >= 12 ? !esm || cjs : !cjs || esm) {
    throw new StepError(`dist/main.js does not load nestjs-integration with ${wanted}`);
  }
}

function installedVersion(dir, name) {
  const file = path.join(dir, 'node_modules', name, 'package.json');
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')).version : 'missing';
}

async function runEntry(entry, tarball, server) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `nestjs-integration-compat-${entry.name}-`));
  const node = nodeBinary(entry.node);
  const env = {
    ...process.env,
    PATH: `${path.dirname(node)}${path.delimiter}${process.env.PATH}`,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || schemaEngineStub,
    PRISMA_HIDE_UPDATE_MESSAGE: '1',
    CHECKPOINT_DISABLE: '1',
    NO_COLOR: '1',
  };
  delete env.DATABASE_URL;
  delete env.NODE_OPTIONS;
  const options = { cwd: dir, env };
  const times = {};
  const timed = async (label, fn) => {
    const started = Date.now();
    try {
      return await fn();
    } finally {
      times[label] = Date.now() - started;
    }
  };

  writeApp(dir, entry);
  const database = await server.create(entry.name);
  try {
    await timed('install', () =>
      step(
        'npm install',
        'npm',
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          // Nothing here needs an install script; Prisma's would try to download engines.
          '--ignore-scripts',
          '--loglevel=error',
          tarball,
          ...dependencies(entry),
        ],
        options,
      ),
    );
    const runtime = step('node version', 'node', ['-p', 'process.version'], options).trim();
    if (runtime !== `v${entry.node}` && !runtime.startsWith(`v${entry.node}.`)) {
      throw new StepError(`the app would run on ${runtime}, not Node ${entry.node}`);
    }
    const majors = {
      '@nestjs/core': entry.nest,
      ...(entry.orm === 'prisma' ? { '@prisma/client': 7 } : { knex: 3 }),
      ...(entry.observability ? { '@nestjs/terminus': entry.nest, 'prom-client': 15 } : {}),
    };
    for (const [name, major] of Object.entries(majors)) {
      const version = installedVersion(dir, name);
      if (!version.startsWith(`${major}.`))
        throw new StepError(`${name}@${version} installed, not ${major}.x`);
    }
    await timed('migrate', () =>
      step(
        'migrate',
        'npx',
        ['--no', 'nestjs-integration', 'migrate', '--database-url', database.url],
        options,
      ),
    );
    if (entry.orm === 'prisma') {
      await timed('generate', () => {
        const fragment = step(
          'prisma fragment',
          'npx',
          ['--no', 'nestjs-integration', 'prisma'],
          options,
        );
        const template = fs.readFileSync(path.join(templates, 'prisma', 'schema.prisma'), 'utf8');
        const schema = template.replace('{{moduleFormat}}', entry.nest >= 12 ? 'esm' : 'cjs');
        fs.mkdirSync(path.join(dir, 'prisma'));
        fs.writeFileSync(path.join(dir, 'prisma', 'schema.prisma'), `${schema}\n${fragment}`);
        step(
          'prisma generate',
          'npx',
          ['--no', 'prisma', 'generate', '--schema', 'prisma/schema.prisma'],
          options,
        );
      });
    }
    await timed('compile', () =>
      step(
        'tsc',
        'node',
        [path.join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'],
        options,
      ),
    );
    assertModuleFormat(dir, entry);
    const output = await timed('run', () =>
      step('app', 'node', [path.join('dist', 'main.js')], {
        ...options,
        env: { ...env, DATABASE_URL: database.url },
      }),
    );
    // A run that passes while the module warns (e.g. LISTEN failing, polling instead) hides a bug.
    const warnings = output.split('\n').filter((line) => /^\[Nest\] .*\s(WARN|ERROR)\s/.test(line));
    if (warnings.length) throw new StepError(`the app logged:\n${warnings.join('\n')}`);
    const versions = [
      '@nestjs/core',
      entry.orm === 'knex' ? 'knex' : '@prisma/client',
      'typescript',
    ]
      .map((name) => `${name}@${installedVersion(dir, name)}`)
      .join(', ');
    fs.rmSync(dir, { recursive: true, force: true });
    return { ok: true, detail: `${runtime}, ${versions}; ${output.trim()}`, times };
  } catch (error) {
    if (!(error instanceof StepError)) throw error;
    return { ok: false, detail: `${error.message}\n  scratch app kept in ${dir}`, times };
  } finally {
    await database.drop();
  }
}

const seconds = (ms) => `${(ms / 1000).toFixed(1)}s`;

async function main() {
  const only = process.argv.slice(2);
  const unknown = only.filter((name) => !MATRIX.some((entry) => entry.name === name));
  if (unknown.length) {
    console.error(
      `[test:compat] unknown entry ${unknown.join(', ')}; entries: ${MATRIX.map((e) => e.name).join(', ')}`,
    );
    process.exit(2);
  }
  const entries = only.length ? MATRIX.filter((entry) => only.includes(entry.name)) : MATRIX;
  const started = Date.now();
  const tarball = packTarball();
  const server = await databaseServer();
  const results = [];
  try {
    for (const entry of entries) {
      console.log(`\n== ${entry.name}: Node ${entry.node}, Nest ${entry.nest}, ${entry.orm}`);
      const entryStarted = Date.now();
      let result;
      try {
        result = await runEntry(entry, tarball, server);
      } catch (error) {
        result = {
          ok: false,
          detail: error instanceof Error ? error.stack : String(error),
          times: {},
        };
      }
      const steps = Object.entries(result.times)
        .map(([label, ms]) => `${label} ${seconds(ms)}`)
        .join(', ');
      const line = `${result.ok ? 'PASS' : 'FAIL'} ${entry.name} in ${seconds(Date.now() - entryStarted)} (${steps})`;
      console.log(`${line}\n  ${result.detail}`);
      results.push({ entry, line, ok: result.ok });
    }
  } finally {
    await server.stop();
  }
  const passed = results.filter((r) => r.ok).length;
  console.log(`\n== compat summary (total ${seconds(Date.now() - started)}, ${tarball})`);
  for (const result of results) console.log(result.line);
  console.log(`${passed} passed, ${results.length - passed} failed`);
  if (passed !== results.length) process.exitCode = 1;
}

main().catch((error) => {
  console.error(`[test:compat] ${error instanceof Error ? error.stack : error}`);
  process.exitCode = 1;
});
