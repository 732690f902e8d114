import { describe, expect, it } from 'vitest';
import { SilenceBackoff } from '../../controller/devices/silence-backoff.js';

const T0 = Date.parse('2030-01-01T00:00:00Z');
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function backoff(opts: { maxEntries?: number } = {}) {
  const clock = { now: T0 };
  return { clock, b: new SilenceBackoff({ clock: () => clock.now, ...opts }) };
}

describe('silence backoff', () => {
  it('waits 60 s after the first silence, doubling with each further one up to 1 h', () => {
    const { clock, b } = backoff();
    const waits: number[] = [];
    for (let i = 0; i < 9; i++) {
      const retryAt = b.silent('dev');
      waits.push(retryAt - clock.now);
      clock.now = retryAt;
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60].map((m) => m * MINUTE));
    expect(b.failures('dev')).toBe(9);
  });

  it('lets a device be asked again only once its wait is over', () => {
    const { clock, b } = backoff();
    expect(b.mayTry('dev')).toBe(true);
    b.silent('dev');
    expect(b.mayTry('dev')).toBe(false);
    clock.now += MINUTE - 1;
    expect(b.mayTry('dev')).toBe(false);
    clock.now += 1;
    expect(b.mayTry('dev')).toBe(true);
    expect(b.mayTry('other')).toBe(true);
  });

  it('forgets a device that answered: its next silence waits 60 s again', () => {
    const { clock, b } = backoff();
    b.silent('dev');
    b.silent('dev');
    b.forget('dev');
    expect(b.failures('dev')).toBe(0);
    expect(b.retryAt('dev')).toBeUndefined();
    expect(b.silent('dev')).toBe(clock.now + MINUTE);
  });

  it('hands out each device whose wait is over once per silence, at most `limit` per call', () => {
    const { clock, b } = backoff();
    for (const ep of ['a', 'b', 'c']) b.silent(ep);
    clock.now += 30_000;
    b.silent('late');
    expect(b.takeDue()).toEqual([]);
    clock.now = T0 + MINUTE;
    expect(b.takeDue(2)).toEqual(['a', 'b']);
    expect(b.takeDue()).toEqual(['c']);
    expect(b.takeDue()).toEqual([]);
    // Handed out and not yet asked: it may be asked (at an Update, say) and stays remembered.
    expect(b.mayTry('a')).toBe(true);
    expect(b.failures('a')).toBe(1);
    clock.now = T0 + 30_000 + MINUTE;
    expect(b.takeDue()).toEqual(['late']);
    // Silent again: handed out again once its doubled wait is over.
    b.silent('a');
    clock.now += 2 * MINUTE - 1;
    expect(b.takeDue()).toEqual([]);
    clock.now += 1;
    expect(b.takeDue()).toEqual(['a']);
  });

  it('remembers a bounded number of devices, forgetting the oldest', () => {
    const { b } = backoff({ maxEntries: 8 });
    for (let i = 0; i < 100; i++) b.silent(`dev-${i}`);
    expect(b.size).toBeLessThanOrEqual(8);
    expect(b.failures('dev-99')).toBe(1);
    expect(b.failures('dev-0')).toBe(0);
  });

  it('keeps exact times and counts at 1 h waits (the packing loses nothing)', () => {
    const { clock, b } = backoff();
    clock.now = Date.parse('2099-12-31T23:59:59.999Z');
    for (let i = 0; i < 70; i++) b.silent('dev');
    expect(b.failures('dev')).toBe(63);
    expect(b.retryAt('dev')).toBe(clock.now + HOUR);
  });
});
