import { IntegrationError } from './integration.error';

/** A handler's event pattern is malformed; bootstrap fails. */
export class InvalidEventPatternError extends IntegrationError {
  override readonly name = 'InvalidEventPatternError';

  constructor(
    readonly pattern: string,
    /** Where it was declared, e.g. `VaultNotifier.onLocked`. */
    readonly handler: string,
  ) {
    super(
      `Invalid event pattern ${JSON.stringify(pattern)} on ${handler}: use dot-separated segments of ` +
        'lowercase letters, digits, "_" or "-", where a whole segment may be "*" (exactly one segment) ' +
        'or "**" (any number of segments), e.g. "vault.locked", "vault.*", "*.closed", "**".',
    );
  }
}
