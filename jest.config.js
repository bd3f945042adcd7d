// @ts-check
/** Jest: unit specs beside the code (src/**\/*.spec.ts), e2e suites in test/e2e. */
// Transpile only (type-checking is `npm run lint`): fast on two cores. ts-jest rather than SWC
// because SWC's and Jest 30's per-platform binaries are not all on the registry mirror, which
// makes `npm ci` refuse the lock file.
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }];

/** @type {import('jest').Config} */
module.exports = {
  // Nest log lines are buffered per test and printed only when it fails (test/support/quiet-*.ts).
  testEnvironment: '<rootDir>/test/support/quiet-environment.ts',
  setupFilesAfterEnv: ['<rootDir>/test/support/quiet-logs.ts'],
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  transform: { '^.+\\.ts$': tsJest },
  // The vault app imports the library by its package name, as users do; here the name maps to the
  // sources so coverage counts src/integration (at run time Node resolves it through the root
  // package.json's `exports`, a self-reference).
  moduleNameMapper: {
    '^nestjs-integration$': '<rootDir>/src/integration/index.ts',
    '^nestjs-integration/testing$': '<rootDir>/src/integration/testing/index.ts',
    '^nestjs-integration/nats$': '<rootDir>/src/integration/transports/nats/index.ts',
    '^nestjs-integration/rabbitmq$': '<rootDir>/src/integration/transports/rabbitmq/index.ts',
  },
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Two cores: two workers, each test file on its own database cloned from a migrated template.
  maxWorkers: 2,
  testTimeout: 60_000,
  coverageProvider: 'v8',
  collectCoverageFrom: [
    'src/**/*.ts',
    '!src/generated/**',
    '!src/main.ts',
    '!**/*.spec.ts',
    // Type-only files: interfaces and type aliases compile to no code.
    '!src/integration/database/sql-executor.ts',
    '!src/integration/subscribers/handler.types.ts',
    '!src/integration/transports/integration-transport.ts',
    // Talk to a broker: measured by `npm run test:brokers`, which `npm test` leaves out.
    '!src/integration/transports/nats/nats.transport.ts',
    '!src/integration/transports/rabbitmq/rabbitmq.transport.ts',
    // The two-service demo (vault relay, projection app): test/brokers/two-services.
    '!src/vault/relay/**',
    '!src/projection/**',
  ],
  coverageReporters: ['text-summary', 'text', 'lcov'],
  coverageThreshold: {
    './src/integration/': { lines: 95 },
  },
};
