import { compareSeq } from '../database/stored-values';
import type { ClaimedDelivery } from './delivery.types';

const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** By position, then consumer: the order of a consumer's deliveries, and of the replays. */
export const byPosition = (
  a: { readonly position: string; readonly consumer: string },
  b: { readonly position: string; readonly consumer: string },
): number => compareSeq(a.position, b.position) || compareText(a.consumer, b.consumer);

/** Groups a consumer's deliveries; `\u0000` cannot occur in a consumer name. */
const groupOf = (consumer: string, rest: string): string => `${consumer}\u0000${rest}`;

/**
 * Claimed deliveries in the order they are run: each consumer's tenants take turns (every
 * tenant's first delivery by position, then every tenant's second...), so a quiet tenant's
 * delivery claimed with a noisy tenant's backlog starts near the front of the batch instead of
 * after it. With one tenant this is position order. Per (consumer, ordering key) the order is
 * always by position: an ordering key given explicitly may be shared by tenants, and its
 * deliveries then fill the places the turns gave the key, earliest position first.
 * @returns A new array; `claimed` is left as it was.
 */
export function sortClaimed(claimed: readonly ClaimedDelivery[]): ClaimedDelivery[] {
  const byPositions = [...claimed].sort(byPosition);
  const turn = new Map<ClaimedDelivery, number>();
  const taken = new Map<string, number>();
  for (const delivery of byPositions) {
    const tenant = groupOf(delivery.consumer, delivery.event.tenantId ?? '');
    const n = taken.get(tenant) ?? 0;
    taken.set(tenant, n + 1);
    turn.set(delivery, n);
  }
  const consumers = new Set(byPositions.map((d) => d.consumer));
  if (taken.size === consumers.size) return byPositions;
  const inTurns = [...byPositions].sort((a, b) => turn.get(a)! - turn.get(b)! || byPosition(a, b));
  // Each key's places in the turn order, refilled with its deliveries in position order.
  const places = new Map<string, number[]>();
  inTurns.forEach((delivery, place) => {
    const key = groupOf(delivery.consumer, delivery.orderingKey);
    const list = places.get(key);
    if (list) list.push(place);
    else places.set(key, [place]);
  });
  const ordered = new Array<ClaimedDelivery>(inTurns.length);
  const next = new Map<string, number>();
  for (const delivery of byPositions) {
    const key = groupOf(delivery.consumer, delivery.orderingKey);
    const i = next.get(key) ?? 0;
    next.set(key, i + 1);
    ordered[places.get(key)![i]!] = delivery;
  }
  return ordered;
}
