import type { ConsumerBatch } from './consumer-runner';

/**
 * Runs deliveries of a batch in lanes of ordering keys: each lane's deliveries one after
 * another in batch order, up to `concurrency` lanes at once. With `concurrency` 1 the whole
 * batch is one lane, so deliveries run in commit order throughout.
 *
 * `step` runs one delivery. Once `halted()` is true no delivery starts. Resolves when every
 * lane has ended, with the number of lanes that ran at once.
 */
export async function runInKeyLanes(
  batch: ConsumerBatch,
  indices: readonly number[],
  concurrency: number,
  step: (i: number) => Promise<void>,
  halted: () => boolean,
): Promise<number> {
  const byKey = new Map<string, number[]>();
  for (const i of indices) {
    const key = concurrency > 1 ? batch.deliveries[i]!.orderingKey : '';
    const lane = byKey.get(key);
    if (lane) lane.push(i);
    else byKey.set(key, [i]);
  }
  const lanes = [...byKey.values()];
  const worker = async (): Promise<void> => {
    for (let lane = lanes.shift(); lane; lane = lanes.shift()) {
      for (const i of lane) {
        if (halted()) return;
        await step(i);
      }
    }
  };
  const workers = Math.min(concurrency, lanes.length);
  await Promise.all(Array.from({ length: workers }, worker));
  return workers;
}
