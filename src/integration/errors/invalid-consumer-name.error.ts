import { IntegrationError } from './integration.error';

/** A consumer name given to a consumer-directory method is malformed; no SQL ran. */
export class InvalidConsumerNameError extends IntegrationError {
  override readonly name = 'InvalidConsumerNameError';

  constructor(
    /** The value that was refused (as given). */
    readonly consumer: unknown,
    /** The method it was given to, e.g. `ConsumerDirectory.retire`. */
    readonly method: string,
  ) {
    super(
      `Invalid consumer name ${describe(consumer)} given to ${method}: a consumer name is a ` +
        'letter, then letters, digits, ".", "_", ":" or "-", at most 100 characters in all ' +
        '(the name given to @IntegrationConsumer or a handler\'s `consumer`), e.g. "billing".',
    );
  }
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 120 ? `${value.slice(0, 120)}…` : value);
  return value === null ? 'null' : typeof value;
}
