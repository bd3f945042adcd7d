import { validateSchemaName } from './schema-name';

/**
 * The two int4 keys of an advisory lock (`pg_advisory_lock(int, int)` and friends) for one
 * role (`lockClass`) on one schema: the same role on different schemas never waits for itself,
 * and different roles never share a lock. The second key is the schema name's FNV-1a hash.
 */
export function schemaLockKeys(lockClass: number, schema: string): readonly [number, number] {
  // FNV-1a, folded into a signed int4.
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(validateSchemaName(schema), 'utf8')) {
    hash = Math.imul(hash ^ byte, 0x01000193);
  }
  return [lockClass, hash | 0];
}
