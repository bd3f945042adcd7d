import { MAX_PUBLIC_ERROR_LENGTH, publicErrorSummary } from './public-error';
import { jsonDepth } from './validation/body-depth.middleware';
import { parseIdempotencyKey } from './validation/idempotency-key.decorator';
import { unsafeTextReason } from './validation/safe-text';

describe('publicErrorSummary (hardening #20)', () => {
  it('keeps short messages, drops frames, excerpts and paths, bounds the length (hardening #20)', () => {
    expect(publicErrorSummary(null)).toBeNull();
    expect(publicErrorSummary('Error: boom')).toBe('Error: boom');
    expect(
      publicErrorSummary(
        'TypeError: x is undefined\n    at f (/srv/app/dist/a.js:1:2)\n    at file:///srv/b.mjs:3:4',
      ),
    ).toBe('TypeError: x is undefined');
    expect(publicErrorSummary('Error: cannot open /etc/app/secret.json for C:\\app\\x.txt')).toBe(
      'Error: cannot open <path> for <path>',
    );
    const long = publicErrorSummary(`Error: ${'y'.repeat(500)}`)!;
    expect(long).toHaveLength(MAX_PUBLIC_ERROR_LENGTH);
    expect(long.endsWith('…')).toBe(true);
  });
});

describe('request validation helpers (hardening #18)', () => {
  it('measures JSON depth without recursion and stops past the limit (hardening #18)', () => {
    expect(jsonDepth('x', 32)).toBe(0);
    expect(jsonDepth({ a: [1, { b: null }] }, 32)).toBe(3);
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(jsonDepth(deep, 32)).toBe(33);
  });

  it('accepts printable ASCII keys up to 128 characters and blank as none (hardening #18)', () => {
    expect(parseIdempotencyKey(undefined)).toBeUndefined();
    expect(parseIdempotencyKey('  ')).toBeUndefined();
    expect(parseIdempotencyKey(' k-1 ')).toBe('k-1');
    expect(parseIdempotencyKey('k'.repeat(128))).toBe('k'.repeat(128));
    expect(() => parseIdempotencyKey('k'.repeat(129))).toThrow();
    expect(() => parseIdempotencyKey('caf\u00e9')).toThrow();
  });

  it('names NUL and lone surrogates, accepts paired surrogates (hardening #18)', () => {
    expect(unsafeTextReason('ok \ud83d\ude00')).toBeUndefined();
    expect(unsafeTextReason('a\u0000')).toContain('NUL');
    expect(unsafeTextReason('a\ud800')).toContain('surrogate');
  });
});
