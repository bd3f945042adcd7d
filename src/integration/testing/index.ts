/**
 * Test kit: `import { assertHandlerIdempotent, drainUntilIdle } from '.../integration/testing'`.
 * @packageDocumentation
 */
export {
  assertHandlerIdempotent,
  drainUntilIdle,
  type AssertHandlerIdempotentOptions,
  type IdempotencyReport,
} from './integration-testing';
