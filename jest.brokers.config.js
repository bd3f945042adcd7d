// @ts-check
/**
 * `npm run test:brokers`: relays and inbound against the real brokers (NATS JetStream at
 * 127.0.0.1:4222, RabbitMQ at 127.0.0.1:5672; `NATS_URL`, `RABBITMQ_URL` to change them),
 * test/brokers/**\/*.broker-spec.ts. Same environment as the main config (databases, quiet
 * logs); its own files, so `npm test` needs no broker; no coverage threshold (the main run
 * measures the library). A broker that is not reachable fails the run
 * (test/support/brokers.ts), it never skips.
 */
const base = require('./jest.config');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.broker-spec.ts'],
  coverageThreshold: undefined,
  maxWorkers: 1,
  testTimeout: 180_000,
};
