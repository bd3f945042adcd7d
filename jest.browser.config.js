// @ts-check
/**
 * `npm run test:browser`: the dashboard in Debian's headless chromium (test/browser), driven by
 * playwright-core. Same environment as the main config (databases, quiet logs), its own files,
 * no coverage threshold (the main run measures the library).
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.browser-spec.ts'],
  coverageThreshold: undefined,
  maxWorkers: 1,
  testTimeout: 120_000,
};
