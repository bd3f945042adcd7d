#!/usr/bin/env node
/**
 * Runs `prisma generate` without network access beyond the npm registry.
 *
 * Prisma 7 tries to download its schema-engine binary before generating, although generating
 * the client does not use it. Pointing PRISMA_SCHEMA_ENGINE_BINARY at an existing executable
 * skips that download. We point it at a stub that explains itself if anything ever runs it.
 * Runs on `npm install` (postinstall) so a fresh clone needs nothing else.
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const stub = path.join(__dirname, 'schema-engine-stub.js');
fs.chmodSync(stub, 0o755);

const prismaCli = path.join(root, 'node_modules', 'prisma', 'build', 'index.js');
if (!fs.existsSync(prismaCli)) {
  // `npm ci --omit=dev` installs no Prisma CLI; the generated client is then expected to exist.
  console.warn('[prisma-generate] prisma CLI not installed; skipping client generation');
  process.exit(0);
}

const env = {
  ...process.env,
  PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || stub,
  PRISMA_HIDE_UPDATE_MESSAGE: '1',
  CHECKPOINT_DISABLE: '1',
};
const result = spawnSync(process.execPath, [prismaCli, 'generate'], {
  cwd: root,
  env,
  stdio: 'inherit',
});
process.exit(result.status === null ? 1 : result.status);
