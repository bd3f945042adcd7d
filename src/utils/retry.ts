/**
 * The package's backoff policy, reused by the app (start-up connection retries). It travels with
 * `nestjs-integration` (`src/integration/utils/retry.ts`); the app reaches it through the package
 * name like any other user.
 */
export {
  DEFAULT_RETRY_POLICY,
  JitterMode,
  MAX_TIMER_DELAY_MS,
  resolveRetryPolicy,
  retryAsync,
  type RetryAsyncOptions,
  type RetryPolicy,
} from 'nestjs-integration';
