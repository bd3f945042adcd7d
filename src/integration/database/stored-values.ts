import { MAX_TIMER_DELAY_MS } from '../utils/retry';

/** Helpers for values the delivery tables store: delays, errors, sequence numbers. */

/** Longest `last_error` stored. */
export const MAX_ERROR_LENGTH = 4_000;

/** A retry delay the settle can always apply: an integer in `[0, MAX_TIMER_DELAY_MS]`. */
export function clampDelay(delayMs: number | undefined): number {
  if (typeof delayMs !== 'number' || !Number.isFinite(delayMs) || delayMs <= 0) return 0;
  return Math.min(MAX_TIMER_DELAY_MS, Math.round(delayMs));
}

/** Compares decimal sequence strings numerically. */
export function compareSeq(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Keeps stored errors readable and bounded. */
export function truncateError(message: string): string {
  const clean = message.replaceAll('\u0000', '\\0');
  const safe = clean.isWellFormed() ? clean : clean.toWellFormed();
  return safe.length > MAX_ERROR_LENGTH ? `${safe.slice(0, MAX_ERROR_LENGTH - 1)}…` : safe;
}
