import { IntegrationError } from './integration.error';

/**
 * `IntegrationAdminModule.register` options are invalid (e.g. no `guard`); the app does not
 * start, so the admin endpoints are never reachable unguarded.
 */
export class InvalidAdminModuleOptionsError extends IntegrationError {
  override readonly name = 'InvalidAdminModuleOptionsError';

  constructor(
    /** One message per invalid field, each naming the field and the fix. */
    readonly problems: readonly string[],
  ) {
    super(`Invalid IntegrationAdminModule options:\n  - ${problems.join('\n  - ')}`);
  }
}
