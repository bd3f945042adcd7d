import { userInfo } from 'node:os';
import { allowOnly, cliActor, parseCount, parseInstant, parseOlderThan } from './cli-options';
import { CliUsageError } from './cli-usage.error';

describe('CLI option parsing (issue 15 CLI)', () => {
  const now = new Date('2026-03-10T12:00:00.000Z');

  it('reads ISO dates as midnight UTC and date-times with their zone', () => {
    expect(parseInstant('since', '2026-01-31').toISOString()).toBe('2026-01-31T00:00:00.000Z');
    expect(parseInstant('since', '2026-01-31T08:00:00Z').toISOString()).toBe(
      '2026-01-31T08:00:00.000Z',
    );
    expect(parseInstant('since', '2026-01-31T08:00+02:00').toISOString()).toBe(
      '2026-01-31T06:00:00.000Z',
    );
    expect(parseInstant('until', '2026-01-31T08:00:00.123Z').getTime()).toBe(
      Date.parse('2026-01-31T08:00:00.123Z'),
    );
  });

  it.each([
    '2026-01-31T08:00',
    'yesterday',
    '31/01/2026',
    '2026-02-30x',
    '2026-02-30',
    '2026-04-31T00:00Z',
    '2026-13-01',
    '',
  ])('refuses %j as an instant, saying what it expects', (value) => {
    expect(() => parseInstant('since', value)).toThrow(CliUsageError);
    expect(() => parseInstant('since', value)).toThrow(
      /^--since must be an ISO 8601 date or date-time with a zone, e\.g\. 2026-01-31/,
    );
  });

  it('reads --older-than as an age back from now, or as a date', () => {
    expect(parseOlderThan('90s', now).toISOString()).toBe('2026-03-10T11:58:30.000Z');
    expect(parseOlderThan('90m', now).toISOString()).toBe('2026-03-10T10:30:00.000Z');
    expect(parseOlderThan('12h', now).toISOString()).toBe('2026-03-10T00:00:00.000Z');
    expect(parseOlderThan('7d', now).toISOString()).toBe('2026-03-03T12:00:00.000Z');
    expect(parseOlderThan('2w', now).toISOString()).toBe('2026-02-24T12:00:00.000Z');
    expect(parseOlderThan('2026-01-01', now).toISOString()).toBe('2026-01-01T00:00:00.000Z');
  });

  it.each(['0d', '7', 'd', '7 d', '-7d', '7y', '99999999999999999d', 'last week'])(
    'refuses %j as --older-than',
    (value) => {
      expect(() => parseOlderThan(value, now)).toThrow(/^--older-than must be an age such as 90m/);
    },
  );

  it('refuses an --older-than date without a zone with the date message', () => {
    expect(() => parseOlderThan('2026-01-01T10:00', now)).toThrow(/^--older-than must be an ISO/);
  });

  it('reads counts of 1 or more', () => {
    expect(parseCount('limit', '1')).toBe(1);
    expect(parseCount('limit', '10000')).toBe(10000);
    for (const value of ['0', '-1', '1.5', '1e3', 'ten', '', '9999999999999999']) {
      expect(() => parseCount('limit', value)).toThrow(/^--limit must be a whole number of 1/);
    }
  });

  it('names the operating-system user as the actor unless --actor is given', () => {
    expect(cliActor({}, {})).toBe(`cli:${userInfo().username}`);
    expect(cliActor({ actor: 'ops:ann' }, {})).toBe('ops:ann');
  });

  it('refuses an option the command does not take, naming where it goes', () => {
    expect(() => allowOnly('stats', { json: true, minutes: '5' }, ['minutes'])).not.toThrow();
    expect(() => allowOnly('stats', { 'older-than': '7d' }, ['minutes'])).toThrow(
      '--older-than does not go with "stats" (it goes with dead-letters purge)',
    );
    expect(() => allowOnly('stats', { consumer: undefined }, [])).not.toThrow();
  });
});
