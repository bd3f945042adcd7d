#!/usr/bin/env node
/**
 * `npm run check:package`: packs the library (scripts/pack-module.js) and checks the tarball as a
 * user would get it. Fails (exit 1) on the first problem:
 *
 * 1. contents: only package.json, README.md, LICENSE, CHANGELOG.md and dist/ files of the
 *    shipped kinds (.js, .d.ts, .sql, .prisma, the dashboard's .html and .css); no specs, maps,
 *    tests, bench or vault; the dashboard's three files present;
 * 2. publint (`--strict`: warnings count as errors);
 * 3. @arethetypeswrong/cli in every resolution mode (node10, node16 from CJS and from ESM,
 *    bundler): the package is CommonJS with `exports`, and none of its entry points may be
 *    wrong in any of them, so no `--profile` narrows the check;
 * 4. install smoke test: the tarball unpacked as node_modules/nestjs-integration of a scratch
 *    directory that holds only the required peers (no @nestjs/schedule, no ORM): require() and
 *    ESM import() of `.` and `./testing` work, and importing adds no global or process listener
 *    (`sideEffects: false` is honest);
 * 5. the .d.ts compile in an app with Nest CLI's tsconfig (nodenext, ES2023) and with the older
 *    CommonJS one (node10 resolution, ES2021), `skipLibCheck` off: nothing newer than ES2021 is
 *    asked of the user's `lib`.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
/** Peers an app always has; `@nestjs/schedule` is left out on purpose (optional peer). */
const REQUIRED_PEERS = ['@nestjs/common', '@nestjs/core', 'reflect-metadata', 'rxjs', 'pg'];

function run(label, command, args, options = {}) {
  console.log(`\n== ${label}: ${[path.basename(command), ...args].join(' ')}`);
  const result = spawnSync(command, args, { cwd: root, encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  if (result.status !== 0) fail(`${label} failed (exit ${result.status})`);
  return result.stdout ?? '';
}

function fail(message) {
  console.error(`\n[check:package] ${message}`);
  process.exit(1);
}

function checkContents(tarball) {
  const files = run('contents', 'tar', ['tzf', tarball]).trim().split('\n');
  const allowed =
    /^package\/(package\.json|README\.md|LICENSE|CHANGELOG\.md|dist\/.+\.(js|d\.ts|sql|prisma)|dist\/admin\/http\/dashboard\/(index\.html|dashboard\.css))$/;
  const forbidden = /\.spec\.|\.map$|(^|\/)(test|bench|vault|generated)\//;
  const wrong = files.filter((file) => !allowed.test(file) || forbidden.test(file));
  if (wrong.length) fail(`unexpected files in the tarball:\n  ${wrong.join('\n  ')}`);
  for (const needed of [
    'package/dist/index.js',
    'package/dist/testing/index.d.ts',
    'package/dist/transports/nats/index.d.ts',
    'package/dist/transports/rabbitmq/index.d.ts',
    'package/dist/admin/http/dashboard/index.html',
    'package/dist/admin/http/dashboard/dashboard.js',
    'package/dist/admin/http/dashboard/dashboard.css',
  ]) {
    if (!files.includes(needed)) fail(`${needed} is missing from the tarball`);
  }
  console.log(`${files.length} files, all of the shipped kinds`);
}

/** A scratch app directory with the package and the required peers only. */
function scratchApp(tarball) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nestjs-integration-check-'));
  const modules = path.join(dir, 'node_modules');
  const target = path.join(modules, 'nestjs-integration');
  fs.mkdirSync(target, { recursive: true });
  run('unpack', 'tar', ['xzf', tarball, '-C', target, '--strip-components=1']);
  // Symlinks: Node resolves each peer's own dependencies from its real path in this repository.
  for (const name of [...REQUIRED_PEERS, '@types/node', '@types/pg', 'typescript']) {
    const link = path.join(modules, name);
    fs.mkdirSync(path.dirname(link), { recursive: true });
    fs.symlinkSync(path.join(root, 'node_modules', name), link, 'dir');
  }
  fs.writeFileSync(path.join(dir, 'package.json'), '{ "name": "scratch-app", "private": true }\n');
  return dir;
}

const SMOKE = `
'use strict';
require('reflect-metadata'); // an app has it loaded by @nestjs/core before any decorator runs
require('@nestjs/core');
let missing = false;
try { require.resolve('@nestjs/schedule'); } catch { missing = true; }
if (!missing) throw new Error('@nestjs/schedule is resolvable: the check would prove nothing');
const globals = Object.getOwnPropertyNames(globalThis).sort().join();
const listeners = process.eventNames().map((n) => n + ':' + process.listenerCount(n)).join();
const main = require('nestjs-integration');
const testing = require('nestjs-integration/testing');
for (const name of ['IntegrationModule', 'DomainEventPublisher', 'OnIntegrationEvent', 'pgAdapter', 'knexAdapter', 'prismaAdapter', 'retryAsync']) {
  if (typeof main[name] !== 'function') throw new Error('missing export ' + name);
}
if (typeof testing.drainUntilIdle !== 'function') throw new Error('missing testing export');
if (Object.getOwnPropertyNames(globalThis).sort().join() !== globals) throw new Error('importing added a global');
if (process.eventNames().map((n) => n + ':' + process.listenerCount(n)).join() !== listeners) throw new Error('importing added a process listener');
// The NATS entry loads without its optional peers; connecting says which packages to install.
let natsResolvable = true;
try { require.resolve('@nats-io/transport-node'); } catch { natsResolvable = false; }
if (natsResolvable) throw new Error('@nats-io/transport-node is resolvable: the check would prove nothing');
const nats = require('nestjs-integration/nats');
if (typeof nats.natsTransport !== 'function') throw new Error('missing nats export natsTransport');
const natsConnect = nats.natsTransport({}).connect().then(
  () => { throw new Error('natsTransport connected without its client packages'); },
  (error) => { if (!(error instanceof main.TransportPeerMissingError)) throw error; },
);
let amqpResolvable = true;
try { require.resolve('amqplib'); } catch { amqpResolvable = false; }
if (amqpResolvable) throw new Error('amqplib is resolvable: the check would prove nothing');
const rabbitmq = require('nestjs-integration/rabbitmq');
const rabbitConnect = rabbitmq.rabbitMqTransport({}).connect().then(
  () => { throw new Error('rabbitMqTransport connected without amqplib'); },
  (error) => { if (!(error instanceof main.TransportPeerMissingError)) throw error; },
);
import('nestjs-integration').then(async (esm) => {
  await natsConnect;
  await rabbitConnect;
  const esmTesting = await import('nestjs-integration/testing');
  if (esm.IntegrationModule !== main.IntegrationModule) throw new Error('ESM named import differs');
  if (esmTesting.drainUntilIdle !== testing.drainUntilIdle) throw new Error('ESM testing import differs');
  console.log('require and import of . and ./testing without @nestjs/schedule, ./nats and ./rabbitmq without their clients: ok; no global side effect');
});
`;

const CONSUMER = `
import { Injectable, Module } from '@nestjs/common';
import {
  DomainEventPublisher,
  IntegrationModule,
  JitterMode,
  OnIntegrationEvent,
  pgAdapter,
  type HandlerContext,
  type IntegrationEvent,
} from 'nestjs-integration';
import { drainUntilIdle } from 'nestjs-integration/testing';
import { Pool, type PoolClient } from 'pg';

declare module 'nestjs-integration' {
  interface IntegrationEventMap {
    'orders.placed': { orderId: string };
  }
}

@Injectable()
export class Orders {
  constructor(private readonly publisher: DomainEventPublisher) {}
  place(client: PoolClient, orderId: string): Promise<string | null> {
    return this.publisher.publish(client, {
      name: 'orders.placed',
      aggregateType: 'Order',
      aggregateId: orderId,
      payload: { orderId },
    });
  }
  // The ambient form (context.transactional): no transaction argument.
  placeInTransaction(orderId: string): Promise<string | null> {
    return this.publisher.publish({
      name: 'orders.placed',
      aggregateType: 'Order',
      aggregateId: orderId,
      payload: { orderId },
    });
  }
}

@Injectable()
export class Shipping {
  @OnIntegrationEvent('orders.placed', { consumer: 'shipping', retry: { jitter: JitterMode.None } })
  async onPlaced(event: IntegrationEvent<{ orderId: string }>, ctx: HandlerContext<PoolClient>) {
    await ctx.tx.query('select $1::text', [event.payload.orderId]);
  }
}

@Module({
  imports: [IntegrationModule.forRoot({ database: pgAdapter(new Pool()) })],
  providers: [Orders, Shipping],
})
export class AppModule {}

export const drain: typeof drainUntilIdle = drainUntilIdle;
`;

/** Nest CLI's tsconfig for new apps (11), and the CommonJS one apps made before still have. */
const TSCONFIGS = {
  'nest-11 (nodenext, ES2023)': {
    module: 'nodenext',
    moduleResolution: 'nodenext',
    resolvePackageJsonExports: true,
    target: 'ES2023',
  },
  'nest-10 (commonjs/node10, ES2021)': { module: 'commonjs', target: 'ES2021' },
};

function typecheck(dir) {
  fs.writeFileSync(path.join(dir, 'app.ts'), CONSUMER);
  for (const [label, options] of Object.entries(TSCONFIGS)) {
    const config = {
      compilerOptions: {
        ...options,
        strict: true,
        noEmit: true,
        esModuleInterop: true,
        emitDecoratorMetadata: true,
        experimentalDecorators: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['app.ts'],
    };
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(config, null, 2));
    run(`types: ${label}`, process.execPath, [bin('tsc'), '-p', 'tsconfig.json'], { cwd: dir });
  }
}

/** Runs pack:module and returns the tarball's path (the last line it prints). */
function packTarball() {
  const packed = run('pack', process.execPath, [path.join(__dirname, 'pack-module.js')]);
  const tarball = packed.trim().split('\n').pop();
  if (!tarball || !fs.existsSync(tarball)) fail(`pack:module printed no tarball (${tarball})`);
  return tarball;
}

function main() {
  const tarball = packTarball();

  checkContents(tarball);
  run('publint', bin('publint'), ['run', tarball, '--strict']);
  run('attw', bin('attw'), [tarball]);

  const dir = scratchApp(tarball);
  try {
    fs.writeFileSync(path.join(dir, 'smoke.js'), SMOKE);
    run('install smoke test', process.execPath, ['smoke.js'], { cwd: dir });
    typecheck(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(`\n[check:package] ${tarball}: all checks passed`);
}

// scripts/compat/run.js reuses the helpers.
if (require.main === module) main();

module.exports = { run, fail, packTarball };
