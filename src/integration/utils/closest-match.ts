/**
 * Suggestions for misspelt names (option keys, filter keys). Pure: no state, no I/O.
 */

/** Edit distance (insertions, deletions, substitutions) between two strings. */
export function levenshtein(a: string, b: string): number {
  if (a === b) return 0;
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost));
    }
    previous = current;
  }
  return previous[b.length];
}

/** A name without case or separators: `tenant_id`, `tenantId` and `TenantID` are one. */
const squash = (name: string): string => name.toLowerCase().replace(/[^a-z0-9]/g, '');

/**
 * The candidate `word` most likely meant, in this order: the same name in another spelling
 * (`batchsize`, `tenant_id`), one that contains it (`name` → `eventName`) or that it contains
 * (`tenantIdentifier` → `tenantId`), else the smallest edit distance ignoring case, then the
 * exact-case distance, then the candidates' order. `undefined` when there are no candidates.
 */
export function closestMatch(word: string, candidates: readonly string[]): string | undefined {
  const wanted = squash(word);
  const respelt =
    candidates.find((c) => squash(c) === wanted) ??
    candidates.find((c) => wanted.length >= 2 && squash(c).includes(wanted)) ??
    candidates.find((c) => squash(c).length >= 2 && wanted.includes(squash(c)));
  if (respelt !== undefined) return respelt;
  let best: string | undefined;
  let bestScore = [Infinity, Infinity];
  const lower = word.toLowerCase();
  for (const candidate of candidates) {
    const score = [levenshtein(lower, candidate.toLowerCase()), levenshtein(word, candidate)];
    if (score[0] < bestScore[0] || (score[0] === bestScore[0] && score[1] < bestScore[1])) {
      best = candidate;
      bestScore = score;
    }
  }
  return best;
}

/**
 * One message per own enumerable key of `value` that is not in `known`, naming the closest
 * known key, e.g. `processor.batchsize is not an option: did you mean processor.batchSize?
 * (known: enabled, workerId, …)`. `path` prefixes the keys (`''` for the top level).
 */
export function unknownKeyProblems(
  value: object,
  known: readonly string[],
  path: string,
  what = 'an option',
): string[] {
  const prefix = path ? `${path}.` : '';
  return Object.keys(value)
    .filter((key) => !known.includes(key))
    .map((key) => {
      const closest = closestMatch(key, known);
      const hint = closest === undefined ? '' : `: did you mean ${prefix}${closest}?`;
      const list = known.length ? ` (known: ${known.join(', ')})` : '';
      return `${prefix}${key} is not ${what}${hint}${list}`;
    });
}
