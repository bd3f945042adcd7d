#!/usr/bin/env node
// The `nestjs-integration` bin: see cli.ts (and `nestjs-integration --help`).
import { runCli } from './cli';

void runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  env: process.env,
}).then((code) => {
  process.exitCode = code;
});
