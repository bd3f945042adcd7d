/**
 * A wrong command line (unknown command or option, a missing or malformed argument): the CLI
 * prints its message and the pointer to `--help`, and exits with code 2. Internal to the bin.
 */
export class CliUsageError extends Error {
  override readonly name = 'CliUsageError';
}
