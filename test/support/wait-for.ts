/**
 * Waits until `check` returns a truthy value, polling every 20 ms, for at most `timeoutMs`.
 * For conditions that background work makes true (not a sleep that hopes: it returns as soon
 * as the condition holds, and fails loudly when it never does).
 */
export async function waitFor<T>(
  check: () => Promise<T> | T,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * Waits until `remaining()` reaches 0 for as long as it keeps dropping: fails when it has not
 * dropped below its lowest value for `stallMs`, so `remaining` must only fall while work is
 * done (count what is left of a fixed set, not rows that appear as the work goes on). For large batches of background work whose duration depends on the
 * machine's load: slow progress still finishes, work that stopped fails within `stallMs`, with
 * what `diagnose` reports about the rows left.
 */
export async function waitForDrained(
  remaining: () => Promise<number>,
  stallMs: number,
  what: string,
  diagnose: () => Promise<unknown> = async () => undefined,
): Promise<void> {
  let lowest = Number.POSITIVE_INFINITY;
  let lastProgress = Date.now();
  for (;;) {
    const left = await remaining();
    if (left === 0) return;
    if (left < lowest) {
      lowest = left;
      lastProgress = Date.now();
    } else if (Date.now() - lastProgress > stallMs) {
      throw new Error(
        `${what}: ${left} left, none done in the last ${stallMs} ms: ${JSON.stringify(await diagnose())}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A promise that a test resolves by hand. */
export interface Gate {
  readonly promise: Promise<void>;
  open(): void;
}

export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
