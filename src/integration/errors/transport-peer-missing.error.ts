import { IntegrationError } from './integration.error';

/**
 * A transport was configured but its broker client (an optional peer dependency) is not
 * installed.
 */
export class TransportPeerMissingError extends IntegrationError {
  override readonly name = 'TransportPeerMissingError';

  constructor(
    readonly transport: string,
    /** The npm packages to install. */
    readonly packages: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `The ${transport} transport needs ${packages.join(' and ')}: run \`npm install ${packages.join(' ')}\` ` +
        `(optional peer dependencies of nestjs-integration, loaded only when the ${transport} transport is configured).`,
      options,
    );
  }
}
