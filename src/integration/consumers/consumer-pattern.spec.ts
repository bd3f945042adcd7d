import { InvalidEventPatternError } from '../errors/invalid-event-pattern.error';
import { compileEventPattern } from '../subscribers/event-pattern';
import { generatePatternsAndNames } from '../../../test/support/event-pattern-samples';
import { consumerPatternRegex } from './consumer-pattern';

describe('consumerPatternRegex', () => {
  it.each([
    [['vault.locked'], '^(?:\\.vault\\.locked)$'],
    [['vault.*'], '^(?:\\.vault\\.[^.]+)$'],
    [['vault.**'], '^(?:\\.vault(?:\\.[^.]+)*)$'],
    [['**.**.paid', 'a.b'], '^(?:(?:\\.[^.]+)*\\.paid|\\.a\\.b)$'],
    [['a.b', 'a.b'], '^(?:\\.a\\.b)$'],
  ])('%j compiles to %s', (patterns, expected) => {
    expect(consumerPatternRegex(patterns)).toBe(expected);
  });

  it('matches no event name when there is no pattern', () => {
    const regex = new RegExp(consumerPatternRegex([]));
    expect(['.a.b', '.', '.vault.locked'].some((s) => regex.test(s))).toBe(false);
  });

  it.each(['vault.lo*', 'Vault.x', '', 'a..b', 'a.***'])('refuses the invalid pattern %j', (p) => {
    expect(() => consumerPatternRegex(['a.b', p])).toThrow(InvalidEventPatternError);
  });

  it('agrees with compileEventPattern for generated patterns × names, alone and in pairs', () => {
    const { patterns, names } = generatePatternsAndNames(13, 300);
    // Names that the patterns are known to match, so agreement is not only on "no".
    const fixed = ['a.b', 'a.b.ab', 'ab.a-b.a_1.b9', 'b.b.b.b.b.b'];
    let matches = 0;
    let checked = 0;
    for (let i = 0; i < patterns.length; i++) {
      const group = [patterns[i]!, patterns[(i * 7 + 3) % patterns.length]!];
      for (const set of [[group[0]!], group]) {
        const regex = new RegExp(consumerPatternRegex(set));
        const predicates = set.map(compileEventPattern);
        for (const name of [...names.slice(0, 60), ...fixed]) {
          const expected = predicates.some((matches) => matches(name));
          if (regex.test(`.${name}`) !== expected) {
            throw new Error(`${JSON.stringify(set)} on ${name}: compileEventPattern ${expected}`);
          }
          if (expected) matches++;
          checked++;
        }
      }
    }
    expect(checked).toBe(600 * 64);
    // Both answers occur often: a regex that always says "no" (or "yes") fails above.
    expect(matches).toBeGreaterThan(checked / 50);
    expect(matches).toBeLessThan(checked - checked / 50);
  });
});
