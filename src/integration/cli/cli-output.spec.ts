import { formatTable, isoSeconds, jsonDocument, oneLine, shortAge } from './cli-output';

describe('CLI output (issue 15 CLI)', () => {
  it('pads names left and numbers right, and trims the line ends', () => {
    expect(
      formatTable(
        [
          ['NAME', 'N', 'NOTE'],
          ['billing', '12', ''],
          ['a', '3', 'x'],
        ],
        'lrl',
      ),
    ).toBe('NAME      N  NOTE\nbilling  12\na         3  x\n');
  });

  it('renders ages, instants and one-line cells', () => {
    expect([null, 0, 850, 42_000, 420_000, 3 * 3_600_000, 2 * 86_400_000].map(shortAge)).toEqual([
      '',
      '0ms',
      '850ms',
      '42s',
      '7m',
      '3h',
      '2d',
    ]);
    expect(isoSeconds(new Date('2026-01-31T08:00:00.789Z'))).toBe('2026-01-31T08:00:00Z');
    expect(isoSeconds(null)).toBe('');
    expect(oneLine('Error: a\n    at f (x.js:1)\n', 30)).toBe('Error: a at f (x.js:1)');
    expect(oneLine('x'.repeat(10), 5)).toBe('xxxx…');
    expect(oneLine(null)).toBe('');
  });

  it('prints one JSON document with ISO dates', () => {
    expect(jsonDocument({ at: new Date('2026-01-31T08:00:00Z') })).toBe(
      '{\n  "at": "2026-01-31T08:00:00.000Z"\n}\n',
    );
  });
});
