import { IntegrationError } from './integration.error';

/** The arguments of `IntegrationAdminService.purgeProcessed` are invalid; nothing was deleted. */
export class InvalidPurgeOptionsError extends IntegrationError {
  override readonly name = 'InvalidPurgeOptionsError';

  constructor(
    /** One message per invalid field, each naming the field and the accepted values. */
    readonly problems: readonly string[],
  ) {
    super(`Invalid purgeProcessed options (nothing was deleted):\n  - ${problems.join('\n  - ')}`);
  }
}
