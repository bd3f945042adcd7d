import { CLOSING_QUIET_WINDOWS, NotifyWindow } from './notify-window';

describe('NotifyWindow', () => {
  const never = (): void => {
    throw new Error('no closing NOTIFY expected');
  };

  it('lets one publish per window notify, the first after the window again', () => {
    let now = 1_000;
    const window = new NotifyWindow(
      'ch',
      5,
      () => undefined,
      () => now,
    );
    expect(window.take()).toBe('ch');
    now += 4.9;
    expect(window.take()).toBeNull();
    now += 0.1; // 5 ms after the last NOTIFY
    expect(window.take()).toBe('ch');
    now += 1;
    expect(window.take()).toBeNull();
    window.stop();
  });

  it('notifies on every publish with a window of 0, and never with NOTIFY off', () => {
    const every = new NotifyWindow('ch', 0, never, () => 0);
    expect([every.take(), every.take()]).toEqual(['ch', 'ch']);
    const off = new NotifyWindow(null, 5, never, () => 0);
    expect([off.take(), off.take()]).toEqual([null, null]);
  });

  describe('closing NOTIFY', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('is sent once publishing has been quiet for a while after a publish that sent none', () => {
      let now = 0;
      const closed: string[] = [];
      const window = new NotifyWindow(
        'ch',
        2,
        (c) => closed.push(c),
        () => now,
      );
      expect(window.take()).toBe('ch');
      now = 1;
      expect(window.take()).toBeNull(); // announced by the first only if it commits
      const quiet = 2 * CLOSING_QUIET_WINDOWS;
      now = 1 + quiet - 1;
      jest.advanceTimersByTime(quiet - 1);
      expect(closed).toEqual([]);
      now = 1 + quiet;
      jest.advanceTimersByTime(1);
      expect(closed).toEqual(['ch']);
      // Once: nothing more is due.
      now += 10 * quiet;
      jest.advanceTimersByTime(10 * quiet);
      expect(closed).toEqual(['ch']);
    });

    it('waits while publishes keep skipping the NOTIFY, and is never needed without one skipped', () => {
      let now = 0;
      const closed: string[] = [];
      const window = new NotifyWindow(
        'ch',
        2,
        (c) => closed.push(c),
        () => now,
      );
      const quiet = 2 * CLOSING_QUIET_WINDOWS;
      // A publish every millisecond: every other one notifies, the others skip.
      for (let i = 0; i < 5 * quiet; i++) {
        window.take();
        now += 1;
        jest.advanceTimersByTime(1);
      }
      expect(closed).toEqual([]);
      // Quiet from here on: one closing NOTIFY, a quiet period after the last skipped publish.
      jest.advanceTimersByTime(quiet);
      now += quiet;
      jest.advanceTimersByTime(quiet);
      expect(closed).toEqual(['ch']);
      // Publishes further apart than the window all notify: nothing to close.
      for (let i = 0; i < 3; i++) {
        now += 3;
        expect(window.take()).toBe('ch');
      }
      now += 10 * quiet;
      jest.advanceTimersByTime(10 * quiet);
      expect(closed).toEqual(['ch']);
    });

    it('sends nothing after stop', () => {
      let now = 0;
      const window = new NotifyWindow('ch', 2, never, () => now);
      window.take();
      now = 1;
      expect(window.take()).toBeNull();
      window.stop();
      now = 1_000;
      jest.advanceTimersByTime(1_000);
      // A stopped window still decides which publishes notify (publishing may go on)...
      expect(window.take()).toBe('ch');
      now = 1_001;
      expect(window.take()).toBeNull();
      // ...but never closes one.
      now = 2_000;
      jest.advanceTimersByTime(1_000);
    });
  });
});
