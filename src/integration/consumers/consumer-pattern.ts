import { InvalidEventPatternError } from '../errors/invalid-event-pattern.error';
import { isValidEventPattern } from '../subscribers/event-pattern';

/**
 * One regular expression, in the syntax PostgreSQL's ARE (`~`) and JavaScript's `RegExp` read
 * alike, that matches `'.' || event_name` exactly when `compileEventPattern` of at least one of
 * `patterns` matches `event_name`:
 * a literal segment `L` becomes `\.L`, `*` becomes `\.[^.]+`, `**` becomes `(?:\.[^.]+)*`, and
 * the patterns are joined by `|` inside `^(?:…)$`. Stored in `integration_consumer.pattern_regex`
 * so that any instance can fan events out to consumers it does not host.
 *
 * With no pattern the result is `^$`, which matches no `'.' || event_name` (never empty).
 *
 * @throws InvalidEventPatternError for a pattern `isValidEventPattern` refuses.
 */
export function consumerPatternRegex(patterns: readonly string[]): string {
  const alternatives = [...new Set(patterns)].map((pattern) => {
    if (!isValidEventPattern(pattern)) {
      throw new InvalidEventPatternError(String(pattern), 'consumerPatternRegex');
    }
    return (
      pattern
        .split('.')
        // `**.**` matches what `**` matches; one group is enough and backtracks less.
        .filter((s, i, all) => s !== '**' || all[i - 1] !== '**')
        .map((segment) => {
          if (segment === '**') return '(?:\\.[^.]+)*';
          if (segment === '*') return '\\.[^.]+';
          // A valid literal segment is `[a-z][a-z0-9_-]*`: none of these characters is special
          // in either syntax outside a bracket expression (`-` only is, inside one), so the
          // segment needs no escaping; only the separating dot does.
          return `\\.${segment}`;
        })
        .join('')
    );
  });
  if (alternatives.length === 0) return '^$';
  return `^(?:${alternatives.join('|')})$`;
}
