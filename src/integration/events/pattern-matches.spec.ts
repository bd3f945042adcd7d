import type { EventsMatching, IntegrationEvent, PatternMatches } from './integration-event';

/** True when A and B are the same type (not merely assignable). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when its argument is `true`: `tsc` (npm run lint) checks these lines. */
const assertType = <T extends true>(): T | undefined => undefined;

describe('type-level pattern matching follows compileEventPattern (issue 13 #typed-union)', () => {
  it('`*` is one segment, `**` any number, literals themselves', () => {
    assertType<PatternMatches<'vault.*', 'vault.locked'>>();
    assertType<Equal<PatternMatches<'vault.*', 'vault.a.b'>, false>>();
    assertType<Equal<PatternMatches<'vault.*', 'vault'>, false>>();
    assertType<PatternMatches<'*.closed', 'vault.closed'>>();
    assertType<PatternMatches<'vault.**', 'vault.locked'>>();
    assertType<PatternMatches<'vault.**', 'vault.audit.logged'>>();
    assertType<PatternMatches<'vault.**', 'vault'>>();
    assertType<PatternMatches<'**', 'a.b.c'>>();
    assertType<PatternMatches<'**.closed', 'a.b.closed'>>();
    assertType<Equal<PatternMatches<'**.closed', 'a.b.opened'>, false>>();
    assertType<PatternMatches<'a.**.z', 'a.z'>>();
    assertType<PatternMatches<'a.**.z', 'a.b.c.z'>>();
    assertType<Equal<PatternMatches<'vault.locked', 'vault.unlocked'>, false>>();
    assertType<PatternMatches<'vault.locked', 'vault.locked'>>();
  });

  it('without known names a pattern falls back to an unknown payload', () => {
    // The map this program sees is the sample app's: no `nothing.*` names in it.
    assertType<Equal<EventsMatching<'nothing.*'>, IntegrationEvent<unknown>>>();
    assertType<Equal<EventsMatching<'nothing.here'>, IntegrationEvent<unknown>>>();
  });
});
