import { MAX_TIMER_DELAY_MS } from '../utils/retry';
import type { OutboxEventRecord } from '../events/integration-event';

/** Result of dispatching one event. */
export type DispatchOutcome =
  | { readonly status: 'processed' }
  | {
      readonly status: 'failed';
      readonly error: string;
      /** Delay before the next attempt; default: the processor's retry policy. */
      readonly delayMs?: number;
      /** No further attempt: dead-letter now (e.g. a consumer's own retry policy is exhausted). */
      readonly final?: boolean;
    }
  /** Not attempted (an earlier event of its ordering key failed, or shutdown): released, attempt not counted. */
  | { readonly status: 'deferred' };

/** What the processor tells a dispatcher about a batch. */
export interface DispatchContext {
  /** Id of the processor instance holding the leases. */
  readonly workerId: string;
  /** True once shutdown began: start nothing new, let in-flight work finish. */
  isStopping(): boolean;
}

/**
 * Delivers claimed events. The processor hands over a batch in publish order; events of one
 * ordering key must be handled in that order, and once one fails the later ones of that key
 * must be `deferred`. Returns one outcome per event, in the batch's order.
 *
 * The default dispatcher delivers to the handlers of the EventSubscriberRegistry through the
 * inbox; tests and custom transports can provide their own (`IntegrationModule` option
 * `dispatcher`, or {@link perEventDispatcher} for a simple per-event function).
 */
export interface EventDispatcher {
  dispatchBatch(
    events: readonly OutboxEventRecord[],
    context: DispatchContext,
  ): Promise<DispatchOutcome[]>;

  /**
   * How many attempts `event` is allowed in total (optional). The processor dead-letters,
   * without dispatching it, an event claimed for an attempt beyond this number (the lease of
   * its last attempt expired: the worker crashed or stalled mid-handler). When left out, or
   * when it returns anything but an integer >= 1, the processor's `retry.maxAttempts` applies.
   */
  maxAttempts?(event: OutboxEventRecord): number;
}

/** Start of the error recorded for an invalid dispatch outcome. */
const INVALID_OUTCOME = 'dispatcher returned an invalid outcome';

/** The status values a {@link DispatchOutcome} may have. */
const OUTCOME_STATUSES: readonly string[] = ['processed', 'failed', 'deferred'];

/** A dispatch outcome after {@link checkDispatchOutcome}. */
export interface CheckedDispatchOutcome {
  /** A well-formed outcome: the value itself, or the failure that replaces an invalid one. */
  readonly outcome: DispatchOutcome;
  /** What was wrong with the value (or clamped), for the log; undefined when nothing was. */
  readonly problem?: string;
}

/** Short, never-throwing rendering of an untrusted value for messages. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'function' || typeof value === 'symbol') return typeof value;
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = Object.prototype.toString.call(value);
  }
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

/**
 * Checks one outcome returned by a dispatcher, which the processor does not trust. A valid
 * outcome is returned as is. Anything else becomes a `failed` outcome (no `delayMs`, no
 * `final`: the processor's retry policy decides) whose `error` starts with "dispatcher
 * returned an invalid outcome" and says what was wrong: not an object, an unknown `status`, a
 * non-string `error`, a `delayMs` that is not a finite number >= 0, a non-boolean `final`. A
 * `delayMs` above {@link MAX_TIMER_DELAY_MS} is clamped to it (reported as a problem, the
 * outcome's error kept).
 */
export function checkDispatchOutcome(value: unknown): CheckedDispatchOutcome {
  const invalid = (problem: string): CheckedDispatchOutcome => ({
    outcome: { status: 'failed', error: `${INVALID_OUTCOME}: ${problem}` },
    problem,
  });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return invalid(
      `${describeValue(value)} (expected an object whose status is 'processed', 'failed' or 'deferred')`,
    );
  }
  const { status, error, delayMs, final } = value as Record<string, unknown>;
  if (typeof status !== 'string' || !OUTCOME_STATUSES.includes(status)) {
    return invalid(
      `status ${describeValue(status)} (expected 'processed', 'failed' or 'deferred')`,
    );
  }
  if (status !== 'failed') return { outcome: { status } as DispatchOutcome };

  const problems: string[] = [];
  if (typeof error !== 'string')
    problems.push(`error must be a string (got ${describeValue(error)})`);
  let delay: number | undefined;
  let clamped: string | undefined;
  if (delayMs !== undefined) {
    if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs < 0) {
      problems.push(`delayMs must be a finite number >= 0 (got ${describeValue(delayMs)})`);
    } else if (delayMs > MAX_TIMER_DELAY_MS) {
      delay = MAX_TIMER_DELAY_MS;
      clamped = `delayMs ${delayMs} clamped to ${MAX_TIMER_DELAY_MS} (MAX_TIMER_DELAY_MS)`;
    } else {
      delay = delayMs;
    }
  }
  if (final !== undefined && typeof final !== 'boolean')
    problems.push(`final must be true, false or undefined (got ${describeValue(final)})`);
  if (problems.length) {
    const problem = problems.join('; ');
    // The dispatcher's own error text, when it gave one, is kept after the explanation.
    const original = typeof error === 'string' ? `; its error: ${error}` : '';
    return {
      outcome: { status: 'failed', error: `${INVALID_OUTCOME}: ${problem}${original}` },
      problem,
    };
  }
  return {
    outcome: {
      status: 'failed',
      error: error as string,
      ...(delay === undefined ? {} : { delayMs: delay }),
      ...(final === undefined ? {} : { final: final as boolean }),
    },
    ...(clamped ? { problem: clamped } : {}),
  };
}

/** Readable text for anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  let json: string | undefined;
  try {
    // undefined for values JSON cannot express (undefined, symbols, functions).
    json = JSON.stringify(error) as string | undefined;
  } catch {
    // cyclic or throwing toJSON: fall through to String()
  }
  return `Non-Error thrown: ${json ?? String(error)}`;
}

/**
 * Adapts a per-event function into an {@link EventDispatcher}: ordering keys are handled
 * concurrently (up to `concurrency`), the events of one key sequentially, and a failure defers
 * the rest of its key.
 */
export function perEventDispatcher(
  dispatch: (event: OutboxEventRecord) => Promise<void>,
  options: { concurrency?: number } = {},
): EventDispatcher {
  const concurrency = Math.max(1, options.concurrency ?? 8);
  return {
    async dispatchBatch(events, context) {
      const outcomes: DispatchOutcome[] = events.map(() => ({ status: 'deferred' }));
      const byKey = new Map<string, number[]>();
      events.forEach((e, i) => {
        const list = byKey.get(e.orderingKey) ?? [];
        list.push(i);
        byKey.set(e.orderingKey, list);
      });
      const queues = [...byKey.values()];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < queues.length) {
          const queue = queues[next++]!;
          for (const i of queue) {
            if (context.isStopping()) return;
            try {
              await dispatch(events[i]!);
              outcomes[i] = { status: 'processed' };
            } catch (error) {
              outcomes[i] = { status: 'failed', error: errorMessage(error) };
              break; // the rest of this key stays deferred
            }
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(concurrency, queues.length) }, worker));
      return outcomes;
    },
  };
}
