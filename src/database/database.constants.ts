/** Injection token of the application's PostgreSQL connection URL. */
export const DATABASE_URL = Symbol('DATABASE_URL');
/** Injection token of the application's Knex instance. */
export const KNEX = Symbol('KNEX');
/** Injection token of a callback run last at shutdown (stops an embedded server). */
export const DATABASE_SHUTDOWN = Symbol('DATABASE_SHUTDOWN');
