import { InvalidConsumerNameError } from '../errors/invalid-consumer-name.error';
import { InvalidQueryError } from '../errors/invalid-query.error';
import { CONSUMER_NAME_PATTERN } from '../subscribers/event-subscriber.registry';
import { unknownKeyProblems } from '../utils/closest-match';

/** Options of `ConsumerDirectory.retire`. */
export interface RetireConsumerOptions {
  /**
   * Why the consumer is retired: recorded on each skipped delivery as
   * `consumer retired: <reason>`. At most {@link MAX_RETIRE_REASON_LENGTH} characters.
   * @default 'retired by an operator'
   */
  readonly reason?: string;
}

/** Longest retire reason. */
export const MAX_RETIRE_REASON_LENGTH = 500;

/** The reason recorded when none is given. */
export const DEFAULT_RETIRE_REASON = 'retired by an operator';

/**
 * `name` when it is a well-formed consumer name (see `CONSUMER_NAME_PATTERN`).
 * @throws InvalidConsumerNameError otherwise.
 */
export function checkConsumerName(name: unknown, method: string): string {
  if (typeof name !== 'string' || !CONSUMER_NAME_PATTERN.test(name)) {
    throw new InvalidConsumerNameError(name, method);
  }
  return name;
}

/**
 * The reason to record for a retire call's options.
 * @throws InvalidQueryError for an unknown option key, or a reason that is not a non-blank
 * string of at most {@link MAX_RETIRE_REASON_LENGTH} characters.
 */
export function checkRetireOptions(options: unknown, method: string): string {
  if (options === undefined) return DEFAULT_RETIRE_REASON;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new InvalidQueryError(method, 'options', 'must be an object like { reason: "…" }');
  }
  const unknown = unknownKeyProblems(options, ['reason'], 'options');
  if (unknown.length > 0) throw new InvalidQueryError(method, 'options', unknown.join('; '));
  const { reason } = options as RetireConsumerOptions;
  if (reason === undefined) return DEFAULT_RETIRE_REASON;
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new InvalidQueryError(method, 'options.reason', 'must be a non-blank string');
  }
  if (reason.length > MAX_RETIRE_REASON_LENGTH) {
    throw new InvalidQueryError(
      method,
      'options.reason',
      `must be at most ${MAX_RETIRE_REASON_LENGTH} characters (got ${reason.length})`,
    );
  }
  return reason;
}
