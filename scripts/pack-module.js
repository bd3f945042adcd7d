#!/usr/bin/env node
/**
 * `npm run pack:module`: builds the library (src/integration) alone and writes its npm tarball.
 *
 * 1. compiles src/integration with tsconfig.package.json (CommonJS + .d.ts, no specs, no maps)
 *    into build/package/dist;
 * 2. copies the non-TypeScript assets that ship (SQL, the Prisma fragment, the admin dashboard:
 *    scripts/library-assets.js), keeping their paths, so code finds them next to its compiled
 *    files;
 * 3. writes build/package/package.json from the root package.json (the one place of the version)
 *    plus the package's own fields, with the README written for the registry page
 *    (src/integration/README.md), LICENSE and CHANGELOG.md;
 * 4. runs `npm pack` there; the tarball lands in build/ and its absolute path is the LAST line
 *    printed (scripts and CI read it from there).
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const library = path.join(root, 'src', 'integration');
const buildDir = path.join(root, 'build');
const packageDir = path.join(buildDir, 'package');
const distDir = path.join(packageDir, 'dist');

const { isLibraryAsset } = require('./library-assets');

/** Peer ranges: the majors this package is built and tested against. */
const PEER_DEPENDENCIES = {
  '@nestjs/common': '^11.0.0 || ^12.0.0',
  '@nestjs/core': '^11.0.0 || ^12.0.0',
  '@nestjs/schedule': '^6.0.0 || ^12.0.0',
  '@nestjs/terminus': '^11.0.0 || ^12.0.0',
  '@nats-io/jetstream': '^3.0.0',
  '@nats-io/transport-node': '^3.0.0',
  amqplib: '^0.10.0',
  '@opentelemetry/api': '^1.3.0',
  '@nestjs-cls/transactional': '^3.0.0',
  '@types/pg': '^8.0.0',
  'nestjs-cls': '^6.0.0 || ^7.0.0',
  pg: '^8.11.0',
  'prom-client': '^15.0.0',
  'reflect-metadata': '^0.1.13 || ^0.2.0',
  rxjs: '^7.1.0',
};
/**
 * Peers the package works without: `@nestjs/schedule` and `@opentelemetry/api` are loaded only
 * when present; `prom-client` only when the `metrics` option is given; `@types/pg` only matters
 * to TypeScript apps (the pg adapter's .d.ts names pg's types); `@nestjs/terminus` is never
 * imported (IntegrationHealthIndicator returns results in its shape), it is declared for the
 * versions the indicator is tested with; `nestjs-cls` and `@nestjs-cls/transactional` only
 * with the `context` option (see docs/context.md); the NATS clients only when a `natsTransport`
 * (`nestjs-integration/nats`) connects, `amqplib` only when a `rabbitMqTransport`
 * (`nestjs-integration/rabbitmq`) does.
 */
const OPTIONAL_PEERS = [
  '@nats-io/jetstream',
  '@nats-io/transport-node',
  '@nestjs-cls/transactional',
  '@nestjs/schedule',
  '@nestjs/terminus',
  '@opentelemetry/api',
  '@types/pg',
  'amqplib',
  'nestjs-cls',
  'prom-client',
];

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  if (result.status !== 0) {
    console.error(`[pack:module] ${command} ${args.join(' ')} failed (exit ${result.status})`);
    process.exit(result.status || 1);
  }
  return result;
}

function copyAssets(from, to, base = from) {
  const copied = [];
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const source = path.join(from, entry.name);
    const target = path.join(to, entry.name);
    if (entry.isDirectory()) {
      copied.push(...copyAssets(source, target, base));
    } else if (isLibraryAsset(path.relative(base, source))) {
      fs.mkdirSync(to, { recursive: true });
      fs.copyFileSync(source, target);
      copied.push(path.relative(packageDir, target));
    }
  }
  return copied;
}

function manifest(rootManifest) {
  const bin = path.join(distDir, 'cli', 'main.js');
  const hasBin = fs.existsSync(bin);
  if (hasBin && !fs.readFileSync(bin, 'utf8').startsWith('#!')) {
    throw new Error(
      'src/integration/cli/main.ts must start with "#!/usr/bin/env node" to be the package bin',
    );
  }
  const entry = (dir) => ({
    types: `./dist/${dir}index.d.ts`,
    default: `./dist/${dir}index.js`,
  });
  return {
    name: 'nestjs-integration',
    version: rootManifest.version,
    description: rootManifest.description,
    keywords: [
      'nestjs',
      'outbox',
      'inbox',
      'transactional-outbox',
      'postgresql',
      'events',
      'exactly-once',
    ],
    license: rootManifest.license,
    engines: rootManifest.engines,
    type: 'commonjs',
    main: './dist/index.js',
    types: './dist/index.d.ts',
    exports: {
      '.': entry(''),
      './testing': entry('testing/'),
      './nats': entry('transports/nats/'),
      './rabbitmq': entry('transports/rabbitmq/'),
      './package.json': './package.json',
    },
    // TypeScript's `node10` resolution (module: commonjs, Nest CLI's older default) ignores
    // `exports`: this maps the subpaths for it.
    typesVersions: {
      '*': {
        testing: ['./dist/testing/index.d.ts'],
        nats: ['./dist/transports/nats/index.d.ts'],
        rabbitmq: ['./dist/transports/rabbitmq/index.d.ts'],
      },
    },
    ...(hasBin ? { bin: { 'nestjs-integration': './dist/cli/main.js' } } : {}),
    files: ['dist', 'CHANGELOG.md'],
    // Importing registers nothing global: decorators write metadata on the package's own
    // classes, optional peers load at start-up (check:package asserts it).
    sideEffects: false,
    peerDependencies: PEER_DEPENDENCIES,
    peerDependenciesMeta: Object.fromEntries(
      OPTIONAL_PEERS.map((name) => [name, { optional: true }]),
    ),
  };
}

function main() {
  const rootManifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  fs.rmSync(packageDir, { recursive: true, force: true });
  fs.mkdirSync(packageDir, { recursive: true });

  run(process.execPath, [
    path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
    '-p',
    'tsconfig.package.json',
  ]);
  const assets = copyAssets(library, distDir);

  fs.copyFileSync(path.join(library, 'README.md'), path.join(packageDir, 'README.md'));
  fs.copyFileSync(path.join(root, 'LICENSE'), path.join(packageDir, 'LICENSE'));
  fs.copyFileSync(path.join(root, 'CHANGELOG.md'), path.join(packageDir, 'CHANGELOG.md'));
  const pkg = manifest(rootManifest);
  fs.writeFileSync(path.join(packageDir, 'package.json'), `${JSON.stringify(pkg, null, 2)}\n`);
  console.log(
    `[pack:module] ${pkg.name}@${pkg.version}: ${assets.length} asset(s) copied` +
      `${pkg.bin ? ', bin nestjs-integration' : ', no bin (src/integration/cli/main.ts absent)'}`,
  );

  const packed = run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', buildDir],
    { cwd: packageDir, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' },
  );
  const [{ filename }] = JSON.parse(packed.stdout);
  console.log(path.join(buildDir, filename));
}

main();
