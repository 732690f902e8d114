import { describe, expect, it } from 'vitest';
import type { ResolvedRollout } from '../../controller/manifests/index.js';
import type { RolloutObservation } from '../../controller/reconcile/plan/observation.js';
import { planRollout, type RolloutPlanInput } from '../../controller/reconcile/plan/plan-rollout.js';
import type { ObservedCounts } from '../../controller/reconcile/plan/rollout-counts.js';
import type { StoredRolloutStatus } from '../../controller/reconcile/plan/rollout-status.js';
import type { TargetEpoch } from '../../controller/reconcile/plan/rollout-target.js';
import type { ShareFigures } from '../../controller/reconcile/plan/step-share.js';
import { describeWait } from '../../controller/reconcile/report/plan-report.js';
import { endpointSelector, type RolloutOverrides, resolvedRollout } from '../helpers/resolved-rollout.js';

const T0 = Date.UTC(2026, 10, 1, 12);

/** Three steps (10% then a manual pause, 50% then a minute, 100%) over every device. */
function rollout(
  strategy: Partial<ResolvedRollout['strategy']> = {},
  rest: RolloutOverrides = {},
): ResolvedRollout {
  return resolvedRollout({
    selector: endpointSelector(['*']),
    strategy: {
      steps: [
        { percent: 10, pause: { kind: 'manual' } },
        { percent: 50, pause: { kind: 'duration', ms: 60_000 } },
        { percent: 100, pause: { kind: 'none' } },
      ],
      failureThreshold: { percent: 20, minUpdates: 5, action: 'pause' },
      ...strategy,
    },
    timeouts: { downloadMs: 1_800_000, updateMs: 900_000 },
    retries: { max: 2, backoffMs: 300_000 },
    ...rest,
  });
}

const zero: ObservedCounts = {
  selected: 100,
  upToDate: 0,
  pending: 100,
  inFlight: 0,
  downloading: 0,
  downloaded: 0,
  updating: 0,
  verifying: 0,
  succeeded: 0,
  failed: 0,
  waitingForRetry: 0,
  offline: 0,
  ownedElsewhere: 0,
  conflicted: 0,
  downgradeRefused: 0,
  incompatibleModel: 0,
  started: 0,
  unread: 0,
  unreadSkipped: 0,
  stateUnread: 0,
  stateUnreadSkipped: 0,
  failedByReason: {},
};

/**
 * A group of 100 members (or `counts.selected`): `started` devices started for the target, of which
 * `startedUnfinished` still move; every other member waits to start unless `waiting` says otherwise.
 */
function observation(
  share: Partial<ShareFigures> = {},
  counts: Partial<ObservedCounts> = {},
  unreadUntil: number | null = null,
  stateUnreadUntil: number | null = null,
): RolloutObservation {
  const members = counts.selected ?? zero.selected;
  const started = share.started ?? counts.started ?? 0;
  return {
    counts: { ...zero, ...counts, started, unread: share.unread ?? counts.unread ?? 0 },
    share: {
      members,
      started,
      startedUnfinished: 0,
      waiting: members - started,
      unread: 0,
      ...share,
    },
    unreadUntil,
    stateUnreadUntil,
    startsLastMinute: 0,
    conflictExamples: [],
  };
}

const TARGET = { firmware: 'fw', version: '2.0.0' };
const sameTarget: TargetEpoch = {
  target: TARGET,
  sinceUpdateId: 0,
  approvedBaseline: 0,
  lastTargetChange: null,
  changedNow: false,
};

function stored(overrides: Partial<StoredRolloutStatus> = {}): StoredRolloutStatus {
  return {
    generation: 'g1',
    phase: 'Progressing',
    currentStep: 0,
    stepStartedAt: T0,
    stepCompletedAt: null,
    pausedReason: null,
    trippedGeneration: null,
    conditions: [],
    target: TARGET,
    sinceUpdateId: 0,
    approvedBaseline: 0,
    lastTargetChange: null,
    stepApprovedRevision: null,
    ...overrides,
  };
}

/** `planRollout` for a pass in which the target did not change (unless `epoch` says so). */
function plan(input: Omit<RolloutPlanInput, 'epoch'> & { epoch?: TargetEpoch }) {
  return planRollout({ epoch: sameTarget, ...input });
}

const always = { kind: 'always' } as const;

describe('planning a rollout', () => {
  it('starts the first step with the canary share only', () => {
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: undefined,
      observation: observation(),
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Progressing');
    expect(planned.start).toEqual({ room: 10, limit: 100 });
    // The rollout's first plan starts step 1, and says so; the next does not again.
    expect(planned.events).toEqual([{ type: 'StepStarted', message: 'step 1 of 3 started (10%)' }]);
    const next = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: planned.status,
      observation: observation(),
      window: always,
      now: T0 + 1,
    });
    expect(next.events).toEqual([]);
  });

  it('holds at a manual pause until approved is raised, then moves on', () => {
    const done = observation({ started: 10 }, { upToDate: 10, succeeded: 10 });
    const held = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: done,
      window: always,
      now: T0 + 1,
    });
    expect(held.status).toMatchObject({ phase: 'Paused', currentStep: 0 });
    expect(held.waits).toContainEqual({ kind: 'approval', step: 0, approvedNeeded: 1 });
    // The step's share is used up and finished: nothing starts while it waits for approval.
    expect(held.start).toBeUndefined();
    const approved = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g2',
      stored: held.status,
      observation: done,
      window: always,
      now: T0 + 2,
    });
    expect(approved.status).toMatchObject({ phase: 'Progressing', currentStep: 1 });
    expect(approved.start).toEqual({ room: 40, limit: 100 });
  });

  it('waits out a timed pause from the moment the step finished', () => {
    const s = stored({ currentStep: 1 });
    const done = observation({ started: 50 }, { upToDate: 50, succeeded: 50 });
    const first = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: s,
      observation: done,
      window: always,
      now: T0,
    });
    expect(first.status).toMatchObject({ phase: 'Paused', currentStep: 1, stepCompletedAt: T0 });
    const during = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: first.status,
      observation: done,
      window: always,
      now: T0 + 59_999,
    });
    expect(during.status.phase).toBe('Paused');
    const after = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: during.status,
      observation: done,
      window: always,
      now: T0 + 60_000,
    });
    expect(after.status).toMatchObject({ phase: 'Progressing', currentStep: 2 });
  });

  it('pauses at the failure threshold and stays paused until the Rollout changes', () => {
    const failing = observation(
      { started: 5 },
      { succeeded: 4, failed: 1, failedByReason: { 'result 4': 1 } },
    );
    const tripped = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: failing,
      window: always,
      now: T0,
    });
    expect(tripped.status.phase).toBe('Paused');
    expect(tripped.start).toBeUndefined();
    expect(tripped.events.map((e) => e.type)).toContain('RolloutPaused');
    const raised = rollout({ failureThreshold: { percent: 50, minUpdates: 5, action: 'pause' } });
    const resumed = plan({
      rollout: raised,
      generation: 'g2',
      stored: tripped.status,
      observation: failing,
      window: always,
      now: T0 + 1,
    });
    expect(resumed.status.phase).toBe('Progressing');
    expect(resumed.start).toBeDefined();
  });

  it('holds the next step where the threshold trips as a step finishes: no StepStarted, the step stays', () => {
    const steps = [
      { percent: 10, pause: { kind: 'none' } },
      { percent: 100, pause: { kind: 'none' } },
    ] as const;
    const twoSteps = rollout({ steps });
    const stepDone = observation({ started: 10 }, { succeeded: 7, failed: 3, failedByReason: { bad: 3 } });
    const tripped = plan({
      rollout: twoSteps,
      generation: 'g1',
      stored: stored(),
      observation: stepDone,
      window: always,
      now: T0,
    });
    expect(tripped.status).toMatchObject({ phase: 'Paused', currentStep: 0 });
    expect(tripped.events.map((e) => e.type)).toEqual([
      'StepCompleted',
      'RolloutPaused',
      'RolloutPhaseChanged',
    ]);
    expect(tripped.start).toBeUndefined();
    const later = plan({
      rollout: twoSteps,
      generation: 'g1',
      stored: tripped.status,
      observation: stepDone,
      window: always,
      now: T0 + 60_000,
    });
    expect(later.status).toMatchObject({ phase: 'Paused', currentStep: 0 });
    expect(later.events).toEqual([]);
    // A commit that raises the threshold lifts it: the next step starts.
    const resumed = plan({
      rollout: rollout({ steps, failureThreshold: { percent: 50, minUpdates: 5, action: 'pause' } }),
      generation: 'g2',
      stored: later.status,
      observation: stepDone,
      window: always,
      now: T0 + 120_000,
    });
    expect(resumed.status).toMatchObject({ phase: 'Progressing', currentStep: 1 });
    expect(resumed.events.map((e) => e.type)).toContain('StepStarted');
  });

  it('does not judge the threshold before minUpdates have finished', () => {
    const early = observation({ started: 5, startedUnfinished: 1 }, { succeeded: 2, failed: 2 });
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: early,
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Progressing');
  });

  it('aborts with action abort: no starts, not-yet-executed updates withdrawn', () => {
    const r = rollout({ failureThreshold: { percent: 20, minUpdates: 5, action: 'abort' } });
    const failing = observation({ started: 5 }, { succeeded: 3, failed: 2 });
    const planned = plan({
      rollout: r,
      generation: 'g1',
      stored: stored(),
      observation: failing,
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Aborted');
    expect(planned.start).toBeUndefined();
    expect(planned.withdrawReason).toMatch(/aborted/);
  });

  it('starts nothing while suspended', () => {
    const planned = plan({
      rollout: rollout({}, { suspend: true }),
      generation: 'g1',
      stored: stored(),
      observation: observation(),
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Suspended');
    expect(planned.start).toBeUndefined();
  });

  it('respects maxInFlight and maxPerMinute', () => {
    const busy = { ...observation({}, { inFlight: 95 }), startsLastMinute: 998 };
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: busy,
      window: always,
      now: T0,
    });
    expect(planned.start).toEqual({ room: 10, limit: 2 });
  });

  it('completes when the last step has finished and nothing is in flight', () => {
    const planned = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: stored({ currentStep: 2 }),
      observation: observation({ started: 100 }, { upToDate: 100, succeeded: 100 }),
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Completed');
    expect(planned.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('forbids Execute while the window is closed', () => {
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: observation({}, { downloaded: 3 }),
      window: { kind: 'closed', opensAt: T0 + 5 },
      now: T0,
    });
    expect(planned.executeAllowed).toBe(false);
    expect(planned.waits).toContainEqual({ kind: 'window', opensAt: T0 + 5 });
  });
});

describe('planning a rollout over a group that is still empty', () => {
  it('does not count an empty step as done, and says the selector matches no registered device', () => {
    const planned = plan({
      rollout: rollout({ approved: 5 }),
      generation: 'g1',
      stored: undefined,
      observation: observation({}, { selected: 0, pending: 0 }),
      window: always,
      now: T0,
    });
    expect(planned.status).toMatchObject({
      phase: 'NoDevices',
      currentStep: 0,
      stepCompletedAt: null,
      message: 'selector matches no registered device',
    });
    expect(planned.events.map((e) => e.type)).not.toContain('StepCompleted');
    expect(planned.status.conditions.find((c) => c.type === 'Stalled')?.status).toBe('True');
  });

  it('waits for members not read yet instead of calling the group empty', () => {
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: undefined,
      observation: observation({ unread: 4 }, { selected: 0, pending: 0 }, T0 + 600_000),
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Progressing');
    expect(planned.status.message).toContain(
      '4 not read yet (model and version unknown; the step waits for them until 2026-11-01T12:10:00.000Z)',
    );
    expect(planned.waits).toContainEqual({ kind: 'unread', devices: 4, until: T0 + 600_000 });
  });

  it('says which members wait for their firmware State, and until when', () => {
    // 3 members of 100 have not reported 5/0/3 yet: they wait to start like busy ones.
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: undefined,
      observation: observation({}, { stateUnread: 3 }, null, T0 + 600_000),
      window: always,
      now: T0,
    });
    expect(planned.status.phase).toBe('Progressing');
    expect(planned.status.message).toContain(
      '3 without a firmware State yet (not started before they report 5/0/3; waited for until 2026-11-01T12:10:00.000Z)',
    );
    expect(planned.waits).toContainEqual({ kind: 'state-unread', devices: 3, until: T0 + 600_000 });
    expect(describeWait(planned.waits.find((w) => w.kind === 'state-unread')!)).toBe(
      '3 devices have not reported their firmware State (5/0/3) yet: none starts before it does; they are waited for until 2026-11-01T12:10:00.000Z at the latest, then skipped',
    );
  });
});

describe('planning a rollout whose target changed', () => {
  const OLD = { firmware: 'fw-old', version: '1.5.0' };
  const change = { from: OLD, to: TARGET, revision: 'c0ffee', at: T0 };
  const changed: TargetEpoch = {
    target: TARGET,
    sinceUpdateId: 42,
    approvedBaseline: 1,
    lastTargetChange: change,
    changedNow: true,
  };

  it('restarts the strategy at step 1 and says so in the status and an event', () => {
    const planned = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g2',
      // The old target completed: last step, done.
      stored: stored({ phase: 'Completed', currentStep: 2, stepCompletedAt: T0 - 1, target: OLD }),
      epoch: changed,
      observation: observation(),
      window: always,
      now: T0,
    });
    const restarted = 'target changed from fw-old@1.5.0 to fw@2.0.0 at revision c0ffee; strategy restarted';
    expect(planned.status).toMatchObject({
      phase: 'Progressing',
      currentStep: 0,
      stepStartedAt: T0,
      stepCompletedAt: null,
      target: TARGET,
      sinceUpdateId: 42,
      approvedBaseline: 1,
      lastTargetChange: change,
    });
    expect(planned.status.message.startsWith(`${restarted}; step 1 of 3`)).toBe(true);
    expect(planned.events).toContainEqual({ type: 'TargetChanged', message: restarted });
    expect(planned.start).toEqual({ room: 10, limit: 100 });
  });

  it('needs approved raised above the value it had when the target changed', () => {
    const epoch = { ...changed, changedNow: false };
    const done = observation({ started: 10 }, { upToDate: 10, succeeded: 10 });
    const held = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g2',
      stored: stored({ target: TARGET, approvedBaseline: 1 }),
      epoch,
      observation: done,
      window: always,
      now: T0,
    });
    expect(held.status).toMatchObject({
      phase: 'Paused',
      currentStep: 0,
      pausedReason: 'waiting for approval of step 2: raise spec.strategy.approved to 2',
    });
    const approved = plan({
      rollout: rollout({ approved: 2 }),
      generation: 'g3',
      stored: held.status,
      epoch,
      observation: done,
      window: always,
      now: T0 + 1,
    });
    expect(approved.status).toMatchObject({ phase: 'Progressing', currentStep: 1 });
  });
});

describe('a step never starts more than its share', () => {
  it('gives members that join while a step runs only the room left in its share', () => {
    // 10 of 100 started; 30 more joined: the share is 13, so 3 more may start, not every low-ranked joiner.
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: observation({ started: 10 }, { selected: 130 }),
      window: always,
      now: T0,
    });
    expect(planned.status.steps[0]).toEqual({ admitted: 13, unfinished: 3 });
    expect(planned.start).toEqual({ room: 3, limit: 100 });
  });

  it('holds a finished step while members not read yet may join it', () => {
    const planned = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: observation({ started: 10, unread: 2 }, { upToDate: 10, succeeded: 10 }, T0 + 5),
      window: always,
      now: T0,
    });
    expect(planned.status).toMatchObject({ phase: 'Progressing', currentStep: 0, stepCompletedAt: null });
    expect(planned.waits).toContainEqual({ kind: 'step-in-progress', step: 0, unfinished: 2 });
  });
});

describe('the outcome of a finished rollout', () => {
  const finished = (counts: Partial<ObservedCounts>) =>
    plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: stored({ currentStep: 2 }),
      observation: observation({ started: 100 - (counts.unreadSkipped ?? 0) }, counts),
      window: always,
      now: T0,
    }).status;
  const condition = (status: ReturnType<typeof finished>, type: string) =>
    status.conditions.find((c) => c.type === type)?.status;

  it('is Completed and Ready when every member reached the target', () => {
    const status = finished({ upToDate: 100, succeeded: 100 });
    expect(status.phase).toBe('Completed');
    expect(condition(status, 'Ready')).toBe('True');
  });

  it('is Degraded (Stalled, not Ready) when some failed below the threshold, with the count', () => {
    const status = finished({ upToDate: 96, succeeded: 96, failed: 4, failedByReason: { timeout: 4 } });
    expect(status.phase).toBe('Degraded');
    expect(status.message).toBe('96 of 100 devices on 2.0.0; 4 failed (4 × timeout)');
    expect(condition(status, 'Ready')).toBe('False');
    expect(condition(status, 'Stalled')).toBe('True');
  });

  it('is Degraded when every update failed before minUpdates could judge the threshold', () => {
    const status = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: stored({ currentStep: 2 }),
      observation: observation({ started: 1 }, { selected: 1, failed: 1, failedByReason: { timeout: 1 } }),
      window: always,
      now: T0,
    }).status;
    expect(status.phase).toBe('Degraded');
    expect(status.message).toBe('0 of 1 devices on 2.0.0; 1 failed (1 × timeout)');
  });

  it('is Degraded when registered members were never read', () => {
    const status = finished({ selected: 98, upToDate: 98, succeeded: 98, unreadSkipped: 2 });
    expect(status.phase).toBe('Degraded');
    expect(status.message).toContain('2 never read (model and version unknown)');
  });

  it('is Degraded when members never reported their firmware State', () => {
    const status = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: stored({ currentStep: 2 }),
      // Skipped: neither started nor waiting.
      observation: observation(
        { started: 98, waiting: 0 },
        { upToDate: 98, succeeded: 98, stateUnreadSkipped: 2 },
      ),
      window: always,
      now: T0,
    }).status;
    expect(status.phase).toBe('Degraded');
    expect(status.message).toBe('98 of 100 devices on 2.0.0; 2 never reported a firmware State (5/0/3)');
  });

  it('marks a rollout paused by its failure threshold as stalled', () => {
    const status = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: observation({ started: 10 }, { succeeded: 5, failed: 5 }),
      window: always,
      now: T0,
    }).status;
    expect(status.phase).toBe('Paused');
    expect(condition(status, 'Stalled')).toBe('True');
  });

  it('counts downloaded devices as waiting for the window only while it is closed', () => {
    const input = { rollout: rollout(), generation: 'g1', stored: stored(), now: T0 };
    const observed = observation({ started: 3, startedUnfinished: 3 }, { downloaded: 3, inFlight: 3 });
    const closed = plan({ ...input, observation: observed, window: { kind: 'closed', opensAt: T0 + 5 } });
    const open = plan({ ...input, observation: observed, window: always });
    expect(closed.status.counts.waitingForWindow).toBe(3);
    expect(open.status.counts.waitingForWindow).toBe(0);
  });
});

describe('a step behind a gate (spec.verify.gate)', () => {
  const gate = { url: 'http://gate.example/check', timeoutMs: 10_000, intervalMs: 30_000 };
  /** Two steps, 10% then 100%, no pauses; the first is done. */
  const gated = (strategy: Partial<ResolvedRollout['strategy']> = {}) =>
    rollout(
      {
        steps: [
          { percent: 10, pause: { kind: 'none' } },
          { percent: 100, pause: { kind: 'none' } },
        ],
        ...strategy,
      },
      { gate },
    );
  const firstDone = observation({ started: 10 }, { upToDate: 10, succeeded: 10 });
  const planWith = (gateChecks: RolloutPlanInput['gateChecks'], now = T0, r = gated()) =>
    plan({
      rollout: r,
      generation: 'g1',
      stored: stored(),
      observation: firstDone,
      window: always,
      gateChecks,
      now,
    });

  it('never asks about the first step', () => {
    const first = plan({
      rollout: gated(),
      generation: 'g1',
      stored: undefined,
      observation: observation(),
      window: always,
      now: T0,
    });
    expect(first.status).toMatchObject({ phase: 'Progressing', currentStep: 0 });
    expect(first.askGate).toBeUndefined();
    expect(first.start).toEqual({ room: 10, limit: 100 });
  });

  it('holds the next step, paused, and asks the gate when it has no answer yet', () => {
    const held = planWith(new Map());
    expect(held.status).toMatchObject({ phase: 'Paused', currentStep: 0 });
    expect(held.status.pausedReason).toBe('step 2 waits for its gate: asking http://gate.example/check');
    expect(held.askGate).toEqual({ step: 1 });
    expect(held.waits).toContainEqual({ kind: 'gate', step: 0, reason: 'asking http://gate.example/check' });
    expect(held.start).toBeUndefined();
  });

  it('shows a refusal with its reason, and asks again only an interval later', () => {
    const refused = new Map([
      [1, { verdict: 'refused' as const, reason: 'HTTP 503: error rate 4%', checkedAt: T0 }],
    ]);
    const soon = planWith(refused, T0 + 29_999);
    expect(soon.status.phase).toBe('Paused');
    expect(soon.status.pausedReason).toContain('refused: HTTP 503: error rate 4%');
    expect(soon.askGate).toBeUndefined();
    expect(planWith(refused, T0 + 30_000).askGate).toEqual({ step: 1 });
  });

  it('starts the step once the gate passed it', () => {
    const passed = planWith(
      new Map([[1, { verdict: 'passed' as const, reason: 'HTTP 200', checkedAt: T0 }]]),
      T0 + 1,
    );
    expect(passed.status).toMatchObject({ phase: 'Progressing', currentStep: 1 });
    expect(passed.events).toContainEqual(expect.objectContaining({ type: 'StepStarted' }));
    expect(passed.start).toEqual({ room: 90, limit: 100 });
    expect(passed.askGate).toBeUndefined();
  });

  it('asks only after a manual pause is approved, and not while suspended', () => {
    const manual = gated({
      steps: [
        { percent: 10, pause: { kind: 'manual' } },
        { percent: 100, pause: { kind: 'none' } },
      ],
    });
    const waiting = planWith(new Map(), T0, manual);
    expect(waiting.waits).toContainEqual({ kind: 'approval', step: 0, approvedNeeded: 1 });
    expect(waiting.askGate).toBeUndefined();
    const approved = planWith(new Map(), T0, { ...manual, strategy: { ...manual.strategy, approved: 1 } });
    expect(approved.askGate).toEqual({ step: 1 });

    const suspended = planWith(new Map(), T0, { ...gated(), suspend: true });
    expect(suspended.status.phase).toBe('Suspended');
    expect(suspended.askGate).toBeUndefined();
  });
});

describe('events people are told about', () => {
  it('tells ApprovalNeeded once when a manual pause begins, and RolloutCompleted when the rollout completes', () => {
    const done = observation({ started: 10 }, { upToDate: 10, succeeded: 10 });
    const held = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: done,
      window: always,
      now: T0,
    });
    expect(held.events.filter((e) => e.type === 'ApprovalNeeded')).toHaveLength(1);
    const still = plan({
      rollout: rollout(),
      generation: 'g1',
      stored: held.status,
      observation: done,
      window: always,
      now: T0 + 1,
    });
    expect(still.events.map((e) => e.type)).not.toContain('ApprovalNeeded');

    const all = observation({ started: 100 }, { upToDate: 100, succeeded: 100 });
    const last = stored({ currentStep: 2, phase: 'Progressing' });
    const completed = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: last,
      observation: all,
      window: always,
      now: T0,
    });
    expect(completed.status.phase).toBe('Completed');
    expect(completed.events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['RolloutPhaseChanged', 'RolloutCompleted']),
    );

    const degraded = plan({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: last,
      observation: observation(
        { started: 100 },
        { upToDate: 99, succeeded: 99, failed: 1, failedByReason: { 'result 4': 1 } },
      ),
      window: always,
      now: T0,
    });
    expect(degraded.status.phase).toBe('Degraded');
    expect(degraded.events.map((e) => e.type)).toContain('RolloutDegraded');
  });
});
