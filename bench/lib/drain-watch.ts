import type { Pool } from 'pg';
import { nowMs, sleep } from './stats';
import type { WorkerHandle } from './worker';

/**
 * Waits until the workers report `target` handled deliveries, then polls `remainingSql` (which
 * must return one row `{ n }`) every 20 ms until it is 0. Returns the moment it was 0 and how
 * many polling queries (each a committed transaction) were issued.
 */
export async function waitUntilDrained(
  workers: ReadonlyArray<WorkerHandle<unknown, { handled: number }>>,
  target: number,
  pool: Pool,
  remainingSql: string,
  timeoutMs = 600_000,
  /** Stop waiting at this moment (ms since the epoch) and report a partial drain. */
  capAt = Number.POSITIVE_INFINITY,
): Promise<{ doneAt: number; polls: number; capped: boolean; completed: number }> {
  const deadline = nowMs() + timeoutMs;
  const handled = (): number =>
    workers.reduce((sum, w) => sum + (w.samples[w.samples.length - 1]?.handled ?? 0), 0);
  while (handled() < target) {
    if (nowMs() >= capAt) return { doneAt: nowMs(), polls: 0, capped: true, completed: handled() };
    if (nowMs() > deadline) throw new Error(`drain timed out: ${handled()} of ${target} handled`);
    await Promise.race([sleep(5), ...workers.map((w) => w.result.then(() => undefined))]);
  }
  let polls = 0;
  for (;;) {
    polls++;
    const { rows } = await pool.query<{ n: string | number }>(remainingSql);
    if (Number(rows[0]!.n) === 0)
      return { doneAt: nowMs(), polls, capped: false, completed: target };
    if (nowMs() > deadline) throw new Error(`drain timed out: ${rows[0]!.n} not finished`);
    await sleep(20);
  }
}
