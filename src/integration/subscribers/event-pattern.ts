/**
 * Event patterns of `@OnIntegrationEvent`. Matching rules:
 * - a pattern is dot-separated segments, like event names;
 * - a literal segment matches itself (`vault.locked` matches only `vault.locked`);
 * - `*` matches exactly one segment (`vault.*` matches `vault.locked`, not `vault.a.b`;
 *   `*.closed` matches `vault.closed`);
 * - `**` matches any number of segments, none included (`vault.**` matches `vault.locked` and
 *   `vault.audit.logged`; `**` alone matches every event);
 * - partial wildcards such as `vault.lo*` are invalid.
 */
const LITERAL = /^[a-z][a-z0-9_-]*$/;

/** True when `pattern` is well-formed. */
export function isValidEventPattern(pattern: unknown): pattern is string {
  if (typeof pattern !== 'string' || pattern.length === 0 || pattern.length > 200) return false;
  return pattern.split('.').every((s) => s === '*' || s === '**' || LITERAL.test(s));
}

/** True when the pattern has a wildcard segment. */
export function isWildcardPattern(pattern: string): boolean {
  return pattern.split('.').some((s) => s === '*' || s === '**');
}

/** Compiles a valid pattern into a predicate over event names. */
export function compileEventPattern(pattern: string): (eventName: string) => boolean {
  if (!isWildcardPattern(pattern)) return (name) => name === pattern;
  const parts = pattern.split('.');
  return (name) => matchSegments(parts, 0, name.split('.'), 0);
}

function matchSegments(pattern: string[], pi: number, name: string[], ni: number): boolean {
  if (pi === pattern.length) return ni === name.length;
  const part = pattern[pi];
  if (part === '**') {
    for (let skip = ni; skip <= name.length; skip++) {
      if (matchSegments(pattern, pi + 1, name, skip)) return true;
    }
    return false;
  }
  if (ni === name.length) return false;
  return (part === '*' || part === name[ni]) && matchSegments(pattern, pi + 1, name, ni + 1);
}
