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

    /** How long publishing must be quiet after a skipped publish (2 ms windows). */
    const quiet = 2 * CLOSING_QUIET_WINDOWS;

    /** A 2 ms window whose clock moves with Jest's timers; `closed`: closing NOTIFYs sent. */
    const windowOnFakeClock = () => {
      let now = 0;
      const closed: string[] = [];
      const window = new NotifyWindow(
        'ch',
        2,
        (channel) => closed.push(channel),
        () => now,
      );
      const advance = (ms: number): void => {
        now += ms;
        jest.advanceTimersByTime(ms);
      };
      return { window, closed, advance };
    };

    it('is sent once publishing has been quiet for a while after a publish that sent none', () => {
      const { window, closed, advance } = windowOnFakeClock();
      expect(window.take()).toBe('ch');
      advance(1);
      expect(window.take()).toBeNull(); // announced by the first only if it commits
      advance(quiet - 1);
      expect(closed).toEqual([]);
      advance(1);
      expect(closed).toEqual(['ch']);
      // Once: nothing more is due.
      advance(10 * quiet);
      expect(closed).toEqual(['ch']);
      window.stop();
    });

    it('waits while publishes keep skipping the NOTIFY, and is never needed without one skipped', () => {
      const { window, closed, advance } = windowOnFakeClock();
      // A publish every millisecond: every other one notifies, the others skip.
      for (let i = 0; i < 5 * quiet; i++) {
        window.take();
        advance(1);
      }
      expect(closed).toEqual([]);
      // Quiet from here on: one closing NOTIFY, a quiet period after the last skipped publish.
      advance(quiet);
      expect(closed).toEqual(['ch']);
      // Publishes further apart than the window all notify: nothing to close.
      for (let i = 0; i < 3; i++) {
        advance(3);
        expect(window.take()).toBe('ch');
      }
      advance(10 * quiet);
      expect(closed).toEqual(['ch']);
      window.stop();
    });

    it('sends nothing after stop', () => {
      const { window, closed, advance } = windowOnFakeClock();
      window.take();
      advance(1);
      expect(window.take()).toBeNull();
      window.stop();
      advance(1_000);
      // A stopped window still decides which publishes notify (publishing may go on)...
      expect(window.take()).toBe('ch');
      advance(1);
      expect(window.take()).toBeNull();
      // ...but never closes one.
      advance(1_000);
      expect(closed).toEqual([]);
    });
  });
});
