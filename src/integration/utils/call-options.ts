/**
 * Tells the trailing options object of the "optional transaction last, as `{ tx }`" convention
 * from the positional transaction handle of the older call shapes: an options object is a plain
 * object (`{}` literal) whose keys are all among `keys`. A transaction handle never is: a pg
 * client is a class instance, a Knex transaction a function, a Prisma transaction client has
 * its model and `$` methods as keys.
 */
export function isCallOptions<K extends string>(
  value: unknown,
  keys: readonly K[],
): value is Partial<Record<K, unknown>> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.keys(value).every((key) => (keys as readonly string[]).includes(key));
}
