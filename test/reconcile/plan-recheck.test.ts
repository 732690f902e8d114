import { describe, expect, it } from 'vitest';
import type { RolloutVerify } from '../../controller/manifests/index.js';
import type { UpdateDecision } from '../../controller/reconcile/plan/actions.js';
import type { ActiveUpdate } from '../../controller/reconcile/plan/observation.js';
import { PlanClock } from '../../controller/reconcile/plan/plan-clock.js';
import { planUpdate, type UpdateIntent } from '../../controller/reconcile/plan/plan-update.js';
import { bakingUpdate, T0, activeUpdate as update } from '../helpers/active-update.js';

const QUIET = 30_000;
const BAKE: RolloutVerify = { bakeMs: 600_000, maxReboots: 0, errorCodes: 'watch' };
const INTENT: UpdateIntent = { targetVersion: '2.0.0', executeAllowed: true, verify: BAKE };
const EXECUTED = T0 - 120_000;

const plan = (u: ActiveUpdate, now: number, intent: UpdateIntent = INTENT) =>
  planUpdate(u, { now, intent, pollQuietMs: QUIET });

/** What the loop would do: the decision without its recheck time. */
function what(d: UpdateDecision): string {
  const { recheckAt: _, ...rest } = d;
  return JSON.stringify(rest, (key, value) => (key === 'update' ? undefined : value));
}

/** Updates waiting at T0 on something only the clock ends, one per kind of wait the planner has. */
const WAITING: Record<string, { update: ActiveUpdate; intent?: UpdateIntent }> = {
  'pending, device offline (deadline)': { update: update({}, { registrationState: 'expired' }) },
  'pending, reset sent, device not Idle yet (quiet, deadline)': {
    update: update({ resetAt: T0 - 5_000 }, { fwState: 1, fwReportedAt: T0 - 4_000 }),
  },
  'downloading (quiet, deadline)': {
    update: update(
      { phase: 'downloading', uriWrittenAt: T0 - 10_000, deadlineAt: T0 + 3_600_000 },
      { fwState: 1, fwReportedAt: T0 - 2_000 },
    ),
  },
  'downloading, deadline before the quiet period ends': {
    update: update(
      { phase: 'downloading', uriWrittenAt: T0 - 10_000, deadlineAt: T0 + 7_000 },
      { fwState: 1, fwReportedAt: T0 - 2_000 },
    ),
  },
  'downloaded, window closed (deadline of a rearmed update)': {
    update: update(
      { phase: 'downloaded', uriWrittenAt: T0 - 10_000, deadlineAt: T0 + 50_000 },
      { fwState: 2 },
    ),
    intent: { ...INTENT, executeAllowed: false },
  },
  'updating, executed, device quiet': {
    update: update(
      { phase: 'updating', uriWrittenAt: EXECUTED - 50_000, executedAt: EXECUTED, deadlineAt: T0 + 900_000 },
      { fwState: 3, fwReportedAt: EXECUTED + 100_000, registeredAt: EXECUTED - 100_000 },
    ),
  },
  'updating, restarted, its Result not in yet': {
    update: update(
      { phase: 'updating', uriWrittenAt: EXECUTED - 50_000, executedAt: EXECUTED, deadlineAt: T0 + 900_000 },
      {
        fwState: 0,
        fwResult: 0,
        fwReportedAt: T0 - 1_000,
        registeredAt: T0 - 2_000,
        infoReadAt: T0 - 1_500,
        firmwareVersion: '1.0.0',
      },
    ),
  },
  'verifying (bake end, lifetime, Error Code quiet)': {
    update: bakingUpdate({ lastSeenAt: T0 - 500, lifetimeS: 3_600, errorCodeReadAt: T0 - 800 }, BAKE.bakeMs),
  },
};

/** Times from T0 on: every 250 ms for two minutes, then every 7 s up to three hours. */
function laterTimes(): number[] {
  const times: number[] = [];
  for (let t = T0; t <= T0 + 120_000; t += 250) times.push(t);
  for (let t = T0 + 120_000; t <= T0 + 3 * 3_600_000; t += 7_000) times.push(t);
  return times;
}

describe('when the planner says to look at an update again', () => {
  it('remembers the earliest time asked about that has not come', () => {
    const clock = new PlanClock(1_000);
    expect(clock.next).toBeUndefined();
    expect(clock.reached(999)).toBe(true);
    expect(clock.reached(1_000)).toBe(true);
    expect(clock.passed(1_000)).toBe(false);
    expect(clock.reached(5_000)).toBe(false);
    expect(clock.reached(3_000)).toBe(false);
    expect(clock.next).toBe(1_000);
  });

  it.each(Object.entries(WAITING))(
    '%s: nothing changes before the recheck time',
    (_, { update: u, intent }) => {
      const first = plan(u, T0, intent);
      expect(first.actions).toEqual([]);
      expect(first.recheckAt).toBeGreaterThan(T0);
      const changedAt = laterTimes().find((t) => what(plan(u, t, intent)) !== what(first));
      // Something does change with time, and not before the time the planner gave.
      expect(changedAt).toBeDefined();
      expect(first.recheckAt!).toBeLessThanOrEqual(changedAt!);
      expect(what(plan(u, first.recheckAt! - 1, intent))).toBe(what(first));
    },
  );

  it('gives no recheck time to an update only a report can move', () => {
    // Downloaded, no deadline (never executed), window closed: only the window opening moves it,
    // and that is a change of the rollout's intent, not of this update's clock.
    const noDeadline = update(
      { phase: 'downloaded', uriWrittenAt: T0 - 10_000, deadlineAt: null },
      { fwState: 2, fwReportedAt: T0 - 9_000 },
    );
    const closed = plan(noDeadline, T0, { ...INTENT, executeAllowed: false });
    expect(closed).toEqual({ actions: [], wait: 'outside-window' });
    expect(
      laterTimes().every(
        (t) => what(plan(noDeadline, t, { ...INTENT, executeAllowed: false })) === what(closed),
      ),
    ).toBe(true);
  });
});
