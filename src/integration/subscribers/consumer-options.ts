import { validateRetryPolicy, type RetryPolicy } from '../utils/retry';
import {
  MAX_CONSUMER_CONCURRENCY,
  type ConsumerOptions,
  type ConsumerStart,
  type TransactionMode,
} from './handler.types';

/** A consumer's options with their defaults applied. */
export interface ResolvedConsumerOptions {
  readonly transactional: TransactionMode;
  /** Partial policy merged over the processor's; undefined: the processor's policy. */
  readonly retry?: Partial<RetryPolicy>;
  readonly concurrency: number;
  readonly startFrom: ConsumerStart;
}

/** Problems with consumer options (empty when valid). Only the fields that are set are checked. */
export function consumerOptionProblems(options: ConsumerOptions): string[] {
  const problems: string[] = [];
  const { transactional, retry, concurrency, startFrom } = options;
  if (
    transactional !== undefined &&
    transactional !== 'batch' &&
    transactional !== 'per-event' &&
    transactional !== false
  ) {
    problems.push(
      `transactional must be 'batch', 'per-event' or false (got ${String(transactional)})`,
    );
  }
  if (retry !== undefined) problems.push(...validateRetryPolicy(retry, 'retry'));
  if (
    concurrency !== undefined &&
    !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= MAX_CONSUMER_CONCURRENCY)
  ) {
    problems.push(
      `concurrency must be an integer from 1 to ${MAX_CONSUMER_CONCURRENCY} (got ${String(concurrency)})`,
    );
  }
  if (startFrom !== undefined && startFrom !== 'now' && startFrom !== 'retained') {
    problems.push(`startFrom must be 'now' or 'retained' (got ${String(startFrom)})`);
  }
  return problems;
}

/** Applies the defaults: `'batch'`, concurrency 1, the processor's retry policy, start `'now'`. */
export function resolveConsumerOptions(options: ConsumerOptions): ResolvedConsumerOptions {
  return {
    transactional: options.transactional ?? 'batch',
    retry: options.retry,
    concurrency: options.concurrency ?? 1,
    startFrom: options.startFrom ?? 'now',
  };
}

/** Why resolved options cannot run together (undefined when they can). */
export function consumerOptionsConflict(options: ResolvedConsumerOptions): string | undefined {
  if (options.concurrency > 1 && options.transactional === 'per-event') {
    return (
      `concurrency ${options.concurrency} needs transactional: 'batch' (events side by side ` +
      `inside one batch transaction) or false (no transaction); got 'per-event'`
    );
  }
  return undefined;
}

/**
 * Whether two retry policies are the same partial policy: the same fields set, to the same
 * values (`undefined` fields count as unset). Compared field by field, not as JSON text, so the
 * order the fields were written in does not matter.
 */
export function sameRetryPolicy(
  a: Partial<RetryPolicy> | undefined,
  b: Partial<RetryPolicy> | undefined,
): boolean {
  if (a === undefined || b === undefined) return a === b;
  const setKeys = (p: Partial<RetryPolicy>) =>
    (Object.keys(p) as (keyof RetryPolicy)[]).filter((k) => p[k] !== undefined).sort();
  const keysA = setKeys(a);
  const keysB = setKeys(b);
  return (
    keysA.length === keysB.length && keysA.every((k, i) => k === keysB[i] && Object.is(a[k], b[k]))
  );
}

/** Structural equality of resolved consumer options (what "identical declarations" means). */
export function sameConsumerOptions(
  a: ResolvedConsumerOptions,
  b: ResolvedConsumerOptions,
): boolean {
  return (
    a.transactional === b.transactional &&
    a.concurrency === b.concurrency &&
    a.startFrom === b.startFrom &&
    sameRetryPolicy(a.retry, b.retry)
  );
}
