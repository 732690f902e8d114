import { describe, expect, it } from 'vitest';
import { admittedBy, stepDone, stepShare } from '../../controller/reconcile/plan/step-share.js';
import { canaryOrder } from '../../controller/reconcile/read/canary-order.js';

/** A small deterministic generator (mulberry32): the same cases on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PERCENTS = [0.5, 1, 5, 10, 12.5, 25, 33.3, 50, 99, 100];

interface Device {
  readonly endpoint: string;
  /** Members that never need this rollout (already on the target, another model, ...). */
  readonly needsUpdate: boolean;
}

/**
 * One step over a fleet that registers in `joinOrder`, a few devices per pass: each pass counts the
 * figures the database read would give, starts the first `reserved` waiting devices in canary
 * order (at most `maxInFlight` in flight), and finishes some of the updates in flight. Returns the
 * devices started, in order, and checks the share after every pass.
 */
function runStep(options: {
  readonly percent: number;
  readonly joinOrder: readonly Device[];
  readonly next: () => number;
  readonly maxInFlight: number;
  /** Devices that register before each pass (default 0 to 3). */
  readonly joinsPerPass?: number;
}): string[] {
  const { percent, joinOrder, next, maxInFlight } = options;
  // The canary order of the whole fleet, once: a device's place in it does not depend on who else is there.
  const rank = new Map(
    canaryOrder(
      'canary',
      joinOrder.map((d) => d.endpoint),
    ).map((endpoint, i) => [endpoint, i]),
  );
  const joined: Device[] = [];
  const started: string[] = [];
  const finished = new Set<string>();
  let passes = 0;
  while (joined.length < joinOrder.length || passes < 1000) {
    passes++;
    const batch = options.joinsPerPass ?? Math.floor(next() * 4);
    joined.push(...joinOrder.slice(joined.length, joined.length + batch));
    const startedSet = new Set(started);
    const waiting = joined
      .filter((d) => d.needsUpdate && !startedSet.has(d.endpoint))
      .map((d) => d.endpoint)
      .sort((a, b) => rank.get(a)! - rank.get(b)!);
    const inFlight = started.filter((e) => !finished.has(e));
    const share = stepShare(percent, {
      members: joined.length,
      started: started.length,
      startedUnfinished: inFlight.length,
      waiting: waiting.length,
      unread: 0,
    });
    const limit = Math.max(0, maxInFlight - inFlight.length);
    started.push(...waiting.slice(0, Math.min(share.reserved, limit)));
    // The property: never more started than the step's share of the members there are now.
    expect(started.length).toBeLessThanOrEqual(admittedBy(percent, joined.length));
    for (const endpoint of started) if (next() < 0.5) finished.add(endpoint);
    if (joined.length === joinOrder.length && stepDone(share) && started.every((e) => finished.has(e))) break;
  }
  return started;
}

describe('the share of a canary step', () => {
  it('never has more devices started than ceil(percent × members), whatever the join order and fleet size', () => {
    const next = random(16);
    for (let run = 0; run < 300; run++) {
      const size = 1 + Math.floor(next() * 250);
      const percent = PERCENTS[Math.floor(next() * PERCENTS.length)]!;
      const fleet: Device[] = Array.from({ length: size }, (_, i) => ({
        endpoint: `dev-${run}-${i}`,
        needsUpdate: next() < 0.85,
      }));
      // Fisher-Yates: a random join order.
      const joinOrder = [...fleet];
      for (let i = joinOrder.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [joinOrder[i], joinOrder[j]] = [joinOrder[j]!, joinOrder[i]!];
      }
      const maxInFlight = 1 + Math.floor(next() * 20);
      const started = runStep({ percent, joinOrder, next: random(run), maxInFlight });

      // The share is filled once the fleet is in, as far as members need the update.
      const needing = fleet.filter((d) => d.needsUpdate).length;
      expect(started.length).toBe(Math.min(admittedBy(percent, size), needing));
      // Deterministic: the same joins give the same canaries.
      expect(runStep({ percent, joinOrder, next: random(run), maxInFlight })).toEqual(started);
    }
  });

  it('is the canary prefix when the fleet is known before the step starts', () => {
    const endpoints = Array.from({ length: 200 }, (_, i) => `sim-${i}`);
    const fleet = endpoints.map((endpoint) => ({ endpoint, needsUpdate: true }));
    const started = runStep({
      percent: 10,
      joinOrder: fleet,
      next: random(1),
      maxInFlight: 100,
      joinsPerPass: fleet.length,
    });
    expect(started).toEqual(canaryOrder('canary', endpoints).slice(0, 20));
  });

  it('admits exact shares of fractional percentages', () => {
    expect(admittedBy(33.3, 1000)).toBe(333);
    expect(admittedBy(12.5, 8)).toBe(1);
    expect(admittedBy(10, 101)).toBe(11);
    expect(admittedBy(100, 7)).toBe(7);
    expect(admittedBy(5, 0)).toBe(0);
  });

  it('waits for devices started and not finished, devices reserved and not started, and unread members', () => {
    const figures = { members: 100, started: 4, startedUnfinished: 1, waiting: 50, unread: 2 };
    expect(stepShare(10, figures)).toEqual({ admitted: 10, room: 6, reserved: 6, unfinished: 9 });
    expect(stepShare(10, { ...figures, started: 12 })).toEqual({
      admitted: 10,
      room: 0,
      reserved: 0,
      unfinished: 3,
    });
    expect(stepDone(stepShare(10, { ...figures, started: 10, startedUnfinished: 0, unread: 0 }))).toBe(true);
    expect(
      stepDone(stepShare(10, { members: 0, started: 0, startedUnfinished: 0, waiting: 0, unread: 0 })),
    ).toBe(false);
  });
});
