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
}

/** Readable text for anything thrown. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  if (typeof error === 'string') return error;
  try {
    return `Non-Error thrown: ${JSON.stringify(error)}`;
  } catch {
    return `Non-Error thrown: ${String(error)}`;
  }
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
