import type { EventsMatching, HandlerFor, IntegrationEvent } from 'nestjs-integration';
import type { VaultBalanceChanged, VaultOpened, VaultStatusChanged } from './vault.events';

/** True when A and B are the same type (not merely assignable). */
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** Compiles only when its argument is `true`: `tsc` (npm run lint) checks these lines. */
const assertType = <T extends true>(): T | undefined => undefined;

/** What a `vault.*` handler does with its event: narrows by name, no casts. */
function describe_(event: EventsMatching<'vault.*'>): string {
  switch (event.name) {
    case 'vault.opened': {
      assertType<Equal<typeof event.payload, VaultOpened>>();
      return event.payload.currency;
    }
    case 'vault.deposited':
    case 'vault.withdrawn': {
      assertType<Equal<typeof event.payload, VaultBalanceChanged>>();
      return event.payload.amountMinor;
    }
    case 'vault.locked': {
      assertType<Equal<typeof event.payload, VaultStatusChanged>>();
      // @ts-expect-error a status change has no amount
      return event.payload.amountMinor as string;
    }
    default:
      return event.payload.vaultId;
  }
}

describe('EventsMatching: typed unions of the vault events (issue 13 #typed-union)', () => {
  it("'vault.*' is the union of the six vault events, discriminated by name", () => {
    type Names = EventsMatching<'vault.*'>['name'];
    assertType<
      Equal<
        Names,
        | 'vault.opened'
        | 'vault.deposited'
        | 'vault.withdrawn'
        | 'vault.locked'
        | 'vault.unlocked'
        | 'vault.closed'
      >
    >();
    assertType<Equal<EventsMatching<'vault.opened'>['payload'], VaultOpened>>();
    assertType<Equal<EventsMatching<'*.closed'>['name'], 'vault.closed'>>();
    assertType<Equal<EventsMatching<'vault.**'>['name'], Names>>();
    assertType<Equal<Extract<EventsMatching<'**'>['name'], `vault.${string}`>, Names>>();
    // Names the map does not list: an unknown payload.
    assertType<Equal<EventsMatching<'billing.*'>, IntegrationEvent<unknown>>>();
    const handler: HandlerFor<'vault.*'> = (event) => describe_(event);
    const opened = {
      name: 'vault.opened',
      payload: { currency: 'EUR' },
    } as EventsMatching<'vault.opened'>;
    expect(handler(opened, undefined as never)).toBe('EUR');
  });
});
