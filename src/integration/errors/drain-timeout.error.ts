import { IntegrationError } from './integration.error';

/** `OutboxProcessor.drain` did not reach an idle outbox within its timeout. */
export class DrainTimeoutError extends IntegrationError {
  override readonly name = 'DrainTimeoutError';

  constructor(
    readonly timeoutMs: number,
    /** Events still pending or processing when the time ran out. */
    readonly remaining: number,
  ) {
    super(
      `Outbox not drained within ${timeoutMs} ms: ${remaining} event(s) still pending or processing. ` +
        'Raise timeoutMs, or check for events held by another instance (their lease must expire first).',
    );
  }
}
