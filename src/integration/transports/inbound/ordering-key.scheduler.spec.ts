import { OrderingKeyScheduler } from './ordering-key.scheduler';

/** A job the test finishes by hand. */
interface Job {
  readonly key: string;
  readonly n: number;
  finish(): void;
}

function harness(concurrency: number) {
  const running: Job[] = [];
  const started: string[] = [];
  let maxRunning = 0;
  const scheduler = new OrderingKeyScheduler<{ key: string; n: number }>(
    concurrency,
    (item) =>
      new Promise<void>((resolve) => {
        const job: Job = {
          ...item,
          finish: () => {
            running.splice(running.indexOf(job), 1);
            resolve();
          },
        };
        running.push(job);
        started.push(`${item.key}${item.n}`);
        maxRunning = Math.max(maxRunning, running.length);
      }),
  );
  const push = (key: string, n: number) => scheduler.push(key, { key, n });
  const finish = async (label: string) => {
    const job = running.find((j) => `${j.key}${j.n}` === label);
    if (!job) throw new Error(`${label} is not running (running: ${labels()})`);
    job.finish();
    // Let the scheduler's finally and pump run.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  const labels = () => running.map((j) => `${j.key}${j.n}`).sort();
  return { scheduler, push, finish, labels, started, maxRunning: () => maxRunning };
}

describe('OrderingKeyScheduler (inbound lanes)', () => {
  it('runs other keys while one key is blocked, and one key at a time in push order', async () => {
    const h = harness(4);
    h.push('a', 1);
    h.push('a', 2);
    h.push('b', 1);
    h.push('c', 1);
    h.push('a', 3);
    // a1 blocks its key; b and c run beside it; a2 and a3 wait.
    expect(h.labels()).toEqual(['a1', 'b1', 'c1']);
    await h.finish('b1');
    await h.finish('c1');
    h.push('b', 2);
    expect(h.labels()).toEqual(['a1', 'b2']);
    await h.finish('a1');
    expect(h.labels()).toEqual(['a2', 'b2']);
    await h.finish('a2');
    await h.finish('a3');
    await h.finish('b2');
    expect(h.scheduler.size).toBe(0);
    expect(h.started.filter((s) => s.startsWith('a'))).toEqual(['a1', 'a2', 'a3']);
  });

  it('never runs more than `concurrency` at once, and resolves whenIdle once all are done', async () => {
    const h = harness(2);
    for (const key of ['a', 'b', 'c', 'd']) h.push(key, 1);
    expect(h.labels()).toEqual(['a1', 'b1']);
    expect(h.scheduler.size).toBe(4);
    let idle = false;
    void h.scheduler.whenIdle().then(() => (idle = true));
    await h.finish('a1');
    expect(h.labels()).toEqual(['b1', 'c1']);
    await h.finish('b1');
    await h.finish('c1');
    expect(idle).toBe(false);
    await h.finish('d1');
    expect(idle).toBe(true);
    expect(h.maxRunning()).toBe(2);
  });

  it('a busy key goes to the back of the ready keys (no starvation)', async () => {
    const h = harness(1);
    h.push('a', 1);
    h.push('a', 2);
    h.push('b', 1);
    await h.finish('a1');
    // b was ready before a's next item: it runs first.
    expect(h.labels()).toEqual(['b1']);
    await h.finish('b1');
    await h.finish('a2');
    expect(h.started).toEqual(['a1', 'b1', 'a2']);
  });

  it('carries on after an item fails', async () => {
    const order: number[] = [];
    const scheduler = new OrderingKeyScheduler<number>(1, async (n) => {
      order.push(n);
      if (n === 1) throw new Error('boom');
    });
    scheduler.push('k', 1);
    scheduler.push('k', 2);
    await scheduler.whenIdle();
    expect(order).toEqual([1, 2]);
  });
});
