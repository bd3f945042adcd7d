import { IntegrationError } from './integration.error';

/** A link (or link query) given to `IntegrationLinkService` is invalid; nothing was written. */
export class InvalidLinkError extends IntegrationError {
  override readonly name = 'InvalidLinkError';

  constructor(
    /** The offending field, e.g. `linkType`, `source.entityId` or `metadata.tags[1]`. */
    readonly field: string,
    /** Why it is invalid and how to fix it. */
    readonly reason: string,
  ) {
    super(`Invalid integration link: ${field} ${reason}`);
  }
}
