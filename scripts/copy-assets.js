#!/usr/bin/env node
/**
 * After `tsc` (npm run build): copies the library's non-TypeScript files that the compiled
 * code reads at run time (SQL migrations, the Prisma fragment) from src/integration into
 * dist/src/integration, at the same relative paths (which files: scripts/library-assets.js), and
 * makes the CLI executable.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { isLibraryAsset } = require('./library-assets');

const root = path.resolve(__dirname, '..');
const from = path.join(root, 'src', 'integration');
const to = path.join(root, 'dist', 'src', 'integration');

function copy(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const source = path.join(dir, entry.name);
    if (entry.isDirectory()) copy(source);
    else if (isLibraryAsset(path.relative(from, source))) {
      const target = path.join(to, path.relative(from, source));
      fs.mkdirSync(path.dirname(target), { recursive: true });
      fs.copyFileSync(source, target);
    }
  }
}

copy(from);
const cli = path.join(to, 'cli', 'main.js');
if (fs.existsSync(cli)) fs.chmodSync(cli, 0o755);
