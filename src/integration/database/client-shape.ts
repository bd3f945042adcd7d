/**
 * Recognises the database clients the adapters accept, structurally (the module imports none
 * of them), so that an adapter given the wrong client fails when it is created.
 */

/** What a value passed to an adapter factory looks like. */
export type ClientShape =
  'prisma' | 'prisma-transaction' | 'knex' | 'knex-transaction' | 'pg-pool' | 'pg-client' | 'other';

type Probe = Record<string, unknown>;

const isFn = (value: unknown): boolean => typeof value === 'function';

/** Classifies `value` by the members each client is known to have. */
export function clientShape(value: unknown): ClientShape {
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return 'other';
  const v = value as Probe;
  // A Knex instance (and a Knex transaction) is a function with query-builder members.
  if (typeof value === 'function' && isFn(v.raw) && isFn(v.transaction) && v.client) {
    return v.isTransaction === true ? 'knex-transaction' : 'knex';
  }
  // An interactive-transaction client has the raw-query methods but no connection management.
  if (isFn(v.$queryRawUnsafe)) {
    return isFn(v.$transaction) && isFn(v.$connect) ? 'prisma' : 'prisma-transaction';
  }
  if (isFn(v.query) && isFn(v.connect)) {
    // pg's Pool keeps its settings in `options` and counts its clients; a Client has neither.
    return typeof v.options === 'object' && v.options !== null && 'totalCount' in v
      ? 'pg-pool'
      : 'pg-client';
  }
  return 'other';
}

const RECEIVED: Record<ClientShape, string> = {
  prisma: 'a Prisma client',
  'prisma-transaction': 'a Prisma interactive-transaction client',
  knex: 'a Knex instance',
  'knex-transaction': 'a Knex transaction',
  'pg-pool': 'a pg Pool',
  'pg-client': 'a pg Client (not a Pool)',
  other: 'something else',
};

/** A short description of `value` for error messages (never its contents). */
export function describeClient(value: unknown): string {
  const shape = clientShape(value);
  if (shape !== 'other') return RECEIVED[shape];
  if (value === null || value === undefined) return String(value);
  if (typeof value === 'object') {
    const name = (value as { constructor?: { name?: string } }).constructor?.name;
    return name && name !== 'Object' ? `an instance of ${name}` : 'a plain object';
  }
  return `a ${typeof value}`;
}

/** The adapter call that fits a recognised client, for the error's fix. */
export function adapterFor(shape: ClientShape): string | undefined {
  switch (shape) {
    case 'prisma':
      return 'prismaAdapter(prisma)';
    case 'knex':
      return 'knexAdapter(knex)';
    case 'pg-pool':
      return 'pgAdapter(pool)';
    default:
      return undefined;
  }
}

/** The fix for a client the adapter cannot use: the right adapter when it recognises the client. */
export function wrongClientFix(shape: ClientShape, otherwise: string): string {
  const adapter = adapterFor(shape);
  return adapter ? `use ${adapter} for it` : otherwise;
}
