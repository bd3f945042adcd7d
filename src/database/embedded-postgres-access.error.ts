/**
 * The process runs as root, so the embedded server runs as another user (PostgreSQL refuses
 * root), and that user cannot enter a directory above the cluster: a checkout under `/root`,
 * or in a 0700 temporary directory. Raised before anything is written.
 */
export class EmbeddedPostgresAccessError extends Error {
  override readonly name = 'EmbeddedPostgresAccessError';

  constructor(
    /** The cluster directory that was asked for. */
    readonly dataDir: string,
    /** The directories above it that the server's user cannot enter, outermost first. */
    readonly blockedDirs: readonly string[],
    /** The system user the server runs as. */
    readonly user: string,
  ) {
    super(
      `Embedded PostgreSQL cannot use ${dataDir}: this process runs as root, so the server runs ` +
        `as the "${user}" user, which cannot enter ${blockedDirs.join(', ')}. ` +
        'Set EMBEDDED_PG_DATA_DIR to a directory that user can reach ' +
        '(e.g. EMBEDDED_PG_DATA_DIR=/var/tmp/nestjs-integration/postgres), ' +
        `or let it through with: chmod o+x ${blockedDirs.join(' ')}`,
    );
  }
}
