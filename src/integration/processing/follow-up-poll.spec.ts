import { FollowUpPoll } from './follow-up-poll';

describe('FollowUpPoll', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** The delays at which `poll` wakes, each run reporting what `found` says for that wake. */
  const wakes = (firstMs: number, idleMs: number, found: (wake: number) => boolean) => {
    const at: number[] = [];
    const start = Date.now();
    const poll: FollowUpPoll = new FollowUpPoll(firstMs, idleMs, () => {
      at.push(Date.now() - start);
      poll.ended(found(at.length));
    });
    return { poll, at };
  };

  it('looks again soon after work, doubling the delay while it finds nothing, up to the idle poll', () => {
    const { poll, at } = wakes(10, 100, () => false);
    poll.ended(true);
    jest.advanceTimersByTime(1_000);
    // 10, then +20, +40, +80; the next delay (160) is past the idle poll: no more.
    expect(at).toEqual([10, 30, 70, 150]);
  });

  it('starts over after each run that found work', () => {
    const { poll, at } = wakes(10, 100, (n) => n === 2);
    poll.ended(true);
    jest.advanceTimersByTime(1_000);
    expect(at).toEqual([10, 30, 40, 60, 100, 180]);
  });

  it('does nothing while idle, when turned off, and after stop', () => {
    const idle = wakes(10, 100, () => false);
    idle.poll.ended(false);
    const off = wakes(0, 100, () => true);
    off.poll.ended(true);
    const stopped = wakes(10, 100, () => true);
    stopped.poll.ended(true);
    stopped.poll.stop();
    jest.advanceTimersByTime(1_000);
    expect([idle.at, off.at, stopped.at]).toEqual([[], [], []]);
  });
});
