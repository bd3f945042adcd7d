/** What every connection the module opens itself is called, before the worker id. */
export const APPLICATION_NAME_PREFIX = 'nestjs-integration';

/** PostgreSQL keeps at most this many bytes of `application_name` (NAMEDATALEN - 1). */
export const MAX_APPLICATION_NAME_BYTES = 63;

/**
 * The `application_name` of a connection the module opens for worker `workerId`:
 * `nestjs-integration:<workerId>`, cut to {@link MAX_APPLICATION_NAME_BYTES}. PostgreSQL shows
 * only printable ASCII there (anything else becomes `?`), so the same is done here first: the
 * result is what `pg_stat_activity.application_name` shows, and cutting it never splits a
 * character.
 */
export function integrationApplicationName(workerId?: string): string {
  const name =
    workerId === undefined ? APPLICATION_NAME_PREFIX : `${APPLICATION_NAME_PREFIX}:${workerId}`;
  return name.replace(/[^\x20-\x7e]/gu, '?').slice(0, MAX_APPLICATION_NAME_BYTES);
}

/**
 * `config` with `application_name` set to `name` unless the user named the connection
 * already: in the settings (`application_name`), in the URL (`?application_name=`, which pg
 * reads over the settings anyway) or through the `PGAPPNAME` environment variable.
 */
export function withApplicationName<T extends object>(
  config: T,
  name: string,
  env: NodeJS.ProcessEnv = process.env,
): T & { application_name?: string } {
  const given = config as { application_name?: unknown; connectionString?: unknown };
  if (given.application_name !== undefined || env.PGAPPNAME) return config;
  if (
    typeof given.connectionString === 'string' &&
    /[?&]application_name=/u.test(given.connectionString)
  ) {
    return config;
  }
  return { ...config, application_name: name };
}
