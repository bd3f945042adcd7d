import type { IntegrationEvent } from '../events/integration-event';
import { sortClaimed } from './claim-order';
import type { ClaimedDelivery } from './delivery.types';

/** A claimed delivery: only the fields the order reads are meaningful. */
function delivery(
  position: number,
  tenantId: string | undefined,
  orderingKey: string,
  consumer = 'ledger',
): ClaimedDelivery {
  return {
    eventId: `${consumer}-${position}`,
    consumer,
    position: String(position),
    orderingKey,
    attempt: 1,
    leaseExpired: false,
    lastError: null,
    event: { tenantId } as unknown as IntegrationEvent,
  };
}

const positions = (list: readonly ClaimedDelivery[]): string[] =>
  list.map((d) => `${d.consumer}:${d.position}`);

describe('sortClaimed', () => {
  it('keeps position order (then consumer) when each consumer has one tenant', () => {
    const claimed = [
      delivery(10, 'a', 'k1', 'mail'),
      delivery(2, 'a', 'k2'),
      delivery(10, 'a', 'k1'),
      delivery(9, 'a', 'k1', 'mail'),
    ];
    expect(positions(sortClaimed(claimed))).toEqual(['ledger:2', 'mail:9', 'ledger:10', 'mail:10']);
    // The input is left as it was.
    expect(positions(claimed)).toEqual(['mail:10', 'ledger:2', 'ledger:10', 'mail:9']);
  });

  it("lets tenants take turns, so a quiet tenant's delivery is not run after a backlog", () => {
    const noisy = [1, 2, 3, 4, 5].map((p) => delivery(p, 'noisy', `n${p}`));
    const quiet = delivery(100, 'quiet', 'q');
    const untenanted = delivery(50, undefined, 'u');
    expect(positions(sortClaimed([...noisy, quiet, untenanted]))).toEqual([
      'ledger:1',
      'ledger:50',
      'ledger:100',
      'ledger:2',
      'ledger:3',
      'ledger:4',
      'ledger:5',
    ]);
  });

  it('takes turns per consumer', () => {
    const claimed = [
      delivery(1, 'noisy', 'n1', 'mail'),
      delivery(2, 'noisy', 'n2', 'mail'),
      delivery(3, 'quiet', 'q', 'mail'),
      delivery(1, 'noisy', 'n1'),
      delivery(2, 'noisy', 'n2'),
    ];
    const mail = sortClaimed(claimed).filter((d) => d.consumer === 'mail');
    expect(positions(mail)).toEqual(['mail:1', 'mail:3', 'mail:2']);
  });

  it('keeps an ordering key shared by tenants in position order, in the places the turns gave it', () => {
    // Turns alone would run 1 (a), 5 (b, key s), 2 (a, key s): key s out of order.
    const claimed = [
      delivery(1, 'a', 'x'),
      delivery(2, 'a', 's'),
      delivery(5, 'b', 's'),
      delivery(6, 'b', 'y'),
    ];
    const ordered = sortClaimed(claimed);
    expect(positions(ordered)).toEqual(['ledger:1', 'ledger:2', 'ledger:5', 'ledger:6']);
    const shared = ordered.filter((d) => d.orderingKey === 's').map((d) => d.position);
    expect(shared).toEqual(['2', '5']);
  });

  it('orders a shared key by position while other keys keep their turns', () => {
    const claimed = [
      delivery(1, 'a', 's'),
      delivery(2, 'a', 'a2'),
      delivery(3, 'a', 's'),
      delivery(4, 'b', 's'),
      delivery(7, 'c', 'c1'),
    ];
    // Turns: 1 (a), 4 (b), 7 (c), 2 (a), 3 (a). Key s holds places 0, 1 and 4: 1, 3, 4.
    expect(positions(sortClaimed(claimed))).toEqual([
      'ledger:1',
      'ledger:3',
      'ledger:7',
      'ledger:2',
      'ledger:4',
    ]);
  });
});
