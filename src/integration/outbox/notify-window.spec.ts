import { NotifyWindow } from './notify-window';

describe('NotifyWindow', () => {
  it('lets one publish per window notify, the first after the window again', () => {
    let now = 1_000;
    const window = new NotifyWindow('ch', 5, () => now);
    expect(window.take()).toBe('ch');
    now += 4.9;
    expect(window.take()).toBeNull();
    now += 0.1; // 5 ms after the last NOTIFY
    expect(window.take()).toBe('ch');
    now += 1;
    expect(window.take()).toBeNull();
  });

  it('notifies on every publish with a window of 0, and never with NOTIFY off', () => {
    const every = new NotifyWindow('ch', 0, () => 0);
    expect([every.take(), every.take()]).toEqual(['ch', 'ch']);
    const off = new NotifyWindow(null, 5, () => 0);
    expect([off.take(), off.take()]).toEqual([null, null]);
  });
});
