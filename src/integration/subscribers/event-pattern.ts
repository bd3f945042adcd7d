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

/**
 * Compiles a valid pattern into a predicate over event names. Matching takes at most
 * (pattern segments × name segments) steps, whatever the pattern: no backtracking.
 */
export function compileEventPattern(pattern: string): (eventName: string) => boolean {
  if (!isWildcardPattern(pattern)) return (name) => name === pattern;
  // `**.**` matches exactly what `**` matches.
  const parts = pattern.split('.').filter((s, i, all) => s !== '**' || all[i - 1] !== '**');
  return (name) => matchEventSegments(parts, name.split('.'));
}

/**
 * Whether the segments of a pattern match the segments of a name, in one pass over the pattern
 * that tracks every name position the pattern so far can end at (O(pattern × name) time,
 * O(name) memory). Exported for its spec; use {@link compileEventPattern}.
 * @internal
 */
export function matchEventSegments(pattern: readonly string[], name: readonly string[]): boolean {
  const n = name.length;
  // reach[j]: the pattern's segments so far match the name's first j segments.
  let reach = new Uint8Array(n + 1);
  reach[0] = 1;
  for (const part of pattern) {
    const next = new Uint8Array(n + 1);
    let any = 0;
    if (part === '**') {
      // Reaching position j, `**` may end at j or at any later position.
      for (let j = 0; j <= n; j++) {
        any |= reach[j]!;
        next[j] = any;
      }
    } else {
      for (let j = 1; j <= n; j++) {
        if (reach[j - 1] && (part === '*' || part === name[j - 1])) {
          next[j] = 1;
          any = 1;
        }
      }
    }
    if (!any) return false;
    reach = next;
  }
  return reach[n] === 1;
}
