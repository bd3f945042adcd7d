import { closestMatch, levenshtein, unknownKeyProblems } from './closest-match';

describe('closest-match (hardening #8)', () => {
  it('computes the edit distance', () => {
    expect(levenshtein('', '')).toBe(0);
    expect(levenshtein('abc', '')).toBe(3);
    expect(levenshtein('', 'abc')).toBe(3);
    expect(levenshtein('processor', 'processor')).toBe(0);
    expect(levenshtein('proccessor', 'processor')).toBe(1);
    expect(levenshtein('kitten', 'sitting')).toBe(3);
    expect(levenshtein('flaw', 'lawn')).toBe(2);
  });

  it('picks the nearest candidate, a case-only difference first', () => {
    expect(closestMatch('proccessor', ['database', 'notify', 'outbox', 'processor'])).toBe(
      'processor',
    );
    expect(closestMatch('batchsize', ['batchSize', 'concurrency', 'leaseMs'])).toBe('batchSize');
    // `batchsize` is 1 edit from `batchSizes` exactly but 0 from `batchSize` ignoring case.
    expect(closestMatch('batchsize', ['batchSizes', 'batchSize'])).toBe('batchSize');
    expect(closestMatch('x', [])).toBeUndefined();
  });

  it('lists each unknown key with the closest known one', () => {
    expect(unknownKeyProblems({ enabled: true }, ['enabled', 'channel'], 'notify')).toEqual([]);
    expect(
      unknownKeyProblems({ enabled: true, chanel: 'a', foo: 1 }, ['enabled', 'channel'], 'notify'),
    ).toEqual([
      'notify.chanel is not an option: did you mean notify.channel? (known: enabled, channel)',
      'notify.foo is not an option: did you mean notify.enabled? (known: enabled, channel)',
    ]);
    expect(unknownKeyProblems({ proccessor: {} }, ['processor'], '')).toEqual([
      'proccessor is not an option: did you mean processor? (known: processor)',
    ]);
    expect(unknownKeyProblems({ a: 1 }, [], 'x', 'a filter')).toEqual(['x.a is not a filter']);
  });
});
