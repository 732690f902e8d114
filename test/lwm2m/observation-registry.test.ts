import { describe, expect, it } from 'vitest';
import {
  ObservationRegistry,
  type TrackedObservation,
} from '../../controller/lwm2m/observations/observation-registry.js';

/** An observation that records how it was cancelled; `fails` makes its cancel reject. */
class Recorded implements TrackedObservation {
  next: TrackedObservation | undefined = undefined;
  readonly cancels: (boolean | undefined)[] = [];

  constructor(
    readonly endpoint: string,
    readonly path: string,
    readonly fails = false,
  ) {}

  async cancel(opts?: { readonly active?: boolean }): Promise<void> {
    this.cancels.push(opts?.active);
    if (this.fails) throw new Error('socket closed');
  }
}

function paths(registry: ObservationRegistry, endpoint: string): string[] {
  return [...registry.of(endpoint)].map((o) => o.path);
}

describe('ObservationRegistry', () => {
  it('keeps the observations of each endpoint apart, most recent first', () => {
    const registry = new ObservationRegistry();
    registry.track(new Recorded('a', '/5/0/3'));
    registry.track(new Recorded('b', '/5/0/3'));
    registry.track(new Recorded('a', '/5/0/5'));
    expect(paths(registry, 'a')).toEqual(['/5/0/5', '/5/0/3']);
    expect(paths(registry, 'b')).toEqual(['/5/0/3']);
    expect(paths(registry, 'c')).toEqual([]);
    expect(registry.endpoints).toBe(2);
    expect(registry.has('a')).toBe(true);
    expect(registry.has('a', '/5/0/5')).toBe(true);
    expect(registry.has('b', '/5/0/5')).toBe(false);
    expect(registry.has('c')).toBe(false);
  });

  it('holds one observation per path: a second one replaces the first, cancelled without telling the device', () => {
    const registry = new ObservationRegistry();
    const first = new Recorded('ep', '/5/0/3');
    const other = new Recorded('ep', '/5/0/5');
    const second = new Recorded('ep', '/5/0/3');
    for (const o of [first, other, second]) registry.track(o);
    expect([...registry.of('ep')]).toEqual([second, other]);
    expect(first.cancels).toEqual([false]);
    expect(other.cancels).toEqual([]);
  });

  it('untracks the head, the middle and the tail of a chain, and ignores one it does not hold', () => {
    const registry = new ObservationRegistry();
    const [x, y, z] = ['/1', '/2', '/3'].map((p) => new Recorded('ep', p)) as [Recorded, Recorded, Recorded];
    for (const o of [x, y, z]) registry.track(o);
    registry.untrack(y);
    expect(paths(registry, 'ep')).toEqual(['/3', '/1']);
    registry.untrack(y);
    registry.untrack(new Recorded('ep', '/9'));
    expect(paths(registry, 'ep')).toEqual(['/3', '/1']);
    registry.untrack(z);
    expect(paths(registry, 'ep')).toEqual(['/1']);
    registry.untrack(x);
    expect(registry.has('ep')).toBe(false);
    expect(registry.endpoints).toBe(0);
    expect(x.next).toBeUndefined();
  });

  it('drops an endpoint: forgets its observations and cancels each passively, leaving the others', () => {
    const registry = new ObservationRegistry();
    const dropped = [new Recorded('gone', '/5/0/3'), new Recorded('gone', '/5/0/5')];
    const kept = new Recorded('stays', '/5/0/3');
    for (const o of [...dropped, kept]) registry.track(o);
    registry.dropEndpoint('gone');
    expect(registry.has('gone')).toBe(false);
    expect(dropped.map((o) => o.cancels)).toEqual([[false], [false]]);
    expect(kept.cancels).toEqual([]);
    expect(paths(registry, 'stays')).toEqual(['/5/0/3']);
  });

  it('cancels passively every observation selected, waiting for all even when one fails', async () => {
    const registry = new ObservationRegistry();
    const state = new Recorded('a', '/5/0/3', true);
    const result = new Recorded('b', '/5/0/5');
    const other = new Recorded('b', '/3/0/9');
    for (const o of [state, result, other]) registry.track(o);
    await registry.cancelAll((o) => o.path.startsWith('/5/'));
    expect(state.cancels).toEqual([false]);
    expect(result.cancels).toEqual([false]);
    expect(other.cancels).toEqual([]);
    await registry.cancelAll();
    expect(other.cancels).toEqual([false]);
  });
});
