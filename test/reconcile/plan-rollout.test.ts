import { describe, expect, it } from 'vitest';
import type { ResolvedRollout } from '../../controller/manifests/index.js';
import type { RolloutCounts, RolloutObservation } from '../../controller/reconcile/observation.js';
import { planRollout } from '../../controller/reconcile/plan-rollout.js';
import type { StoredRolloutStatus } from '../../controller/reconcile/rollout-status.js';

const T0 = Date.UTC(2026, 10, 1, 12);
const source = { file: '/m/r.yaml', line: 1 };

function rollout(
  overrides: Partial<ResolvedRollout['strategy']> = {},
  rest: Partial<ResolvedRollout> = {},
): ResolvedRollout {
  return {
    name: 'r',
    group: { name: 'g', selector: { endpoints: [], endpointPatterns: ['*'], attributes: {} }, source },
    firmware: {
      name: 'fw',
      version: '2.0.0',
      file: 'fw.bin',
      sha256: 'a'.repeat(64),
      models: undefined,
      path: undefined,
      size: undefined,
      source,
    },
    suspend: false,
    priority: 0,
    allowDowngrade: false,
    strategy: {
      steps: [
        { percent: 10, pause: { kind: 'manual' } },
        { percent: 50, pause: { kind: 'duration', ms: 60_000 } },
        { percent: 100, pause: { kind: 'none' } },
      ],
      approved: 0,
      maxInFlight: 100,
      maxPerMinute: 1000,
      failureThreshold: { percent: 20, minUpdates: 5, action: 'pause' },
      ...overrides,
    },
    timeouts: { downloadMs: 1_800_000, updateMs: 900_000 },
    retries: { max: 2, backoffMs: 300_000 },
    window: undefined,
    source,
    ...rest,
  };
}

const zero: RolloutCounts = {
  selected: 100,
  upToDate: 0,
  pending: 100,
  inFlight: 0,
  downloading: 0,
  downloaded: 0,
  updating: 0,
  succeeded: 0,
  failed: 0,
  waitingForRetry: 0,
  offline: 0,
  ownedElsewhere: 0,
  conflicted: 0,
  downgradeRefused: 0,
  incompatibleModel: 0,
  failedByReason: {},
};

function observation(unfinished: number[], counts: Partial<RolloutCounts> = {}): RolloutObservation {
  const admitted = [10, 50, 100];
  return {
    counts: { ...zero, ...counts },
    steps: unfinished.map((u, i) => ({ admitted: admitted[i]!, unfinished: u })),
    startsLastMinute: 0,
    conflictExamples: [],
  };
}

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
    ...overrides,
  };
}

const always = { kind: 'always' } as const;

describe('planning a rollout', () => {
  it('starts the first step with the canary share only', () => {
    const plan = planRollout({
      rollout: rollout(),
      generation: 'g1',
      stored: undefined,
      observation: observation([10, 50, 100]),
      window: always,
      now: T0,
    });
    expect(plan.status.phase).toBe('Progressing');
    expect(plan.start).toEqual({ maxRank: 10, limit: 100 });
  });

  it('holds at a manual pause until approved is raised, then moves on', () => {
    const done = observation([0, 40, 90], { upToDate: 10, succeeded: 10 });
    const held = planRollout({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: done,
      window: always,
      now: T0 + 1,
    });
    expect(held.status).toMatchObject({ phase: 'Paused', currentStep: 0 });
    expect(held.waits).toContainEqual({ kind: 'approval', step: 0, approvedNeeded: 1 });
    expect(held.start).toEqual({ maxRank: 10, limit: 100 });
    const approved = planRollout({
      rollout: rollout({ approved: 1 }),
      generation: 'g2',
      stored: held.status,
      observation: done,
      window: always,
      now: T0 + 2,
    });
    expect(approved.status).toMatchObject({ phase: 'Progressing', currentStep: 1 });
    expect(approved.start).toEqual({ maxRank: 50, limit: 100 });
  });

  it('waits out a timed pause from the moment the step finished', () => {
    const s = stored({ currentStep: 1 });
    const done = observation([0, 0, 50], { upToDate: 50, succeeded: 50 });
    const first = planRollout({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: s,
      observation: done,
      window: always,
      now: T0,
    });
    expect(first.status).toMatchObject({ phase: 'Paused', currentStep: 1, stepCompletedAt: T0 });
    const during = planRollout({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: first.status,
      observation: done,
      window: always,
      now: T0 + 59_999,
    });
    expect(during.status.phase).toBe('Paused');
    const after = planRollout({
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
    const failing = observation([5, 50, 100], { succeeded: 4, failed: 1, failedByReason: { 'result 4': 1 } });
    const tripped = planRollout({
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
    const resumed = planRollout({
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

  it('does not judge the threshold before minUpdates have finished', () => {
    const early = observation([5, 50, 100], { succeeded: 2, failed: 2 });
    const plan = planRollout({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: early,
      window: always,
      now: T0,
    });
    expect(plan.status.phase).toBe('Progressing');
  });

  it('aborts with action abort: no starts, not-yet-executed updates withdrawn', () => {
    const r = rollout({ failureThreshold: { percent: 20, minUpdates: 5, action: 'abort' } });
    const failing = observation([5, 50, 100], { succeeded: 3, failed: 2 });
    const plan = planRollout({
      rollout: r,
      generation: 'g1',
      stored: stored(),
      observation: failing,
      window: always,
      now: T0,
    });
    expect(plan.status.phase).toBe('Aborted');
    expect(plan.start).toBeUndefined();
    expect(plan.withdrawReason).toMatch(/aborted/);
  });

  it('starts nothing while suspended', () => {
    const plan = planRollout({
      rollout: rollout({}, { suspend: true }),
      generation: 'g1',
      stored: stored(),
      observation: observation([10, 50, 100]),
      window: always,
      now: T0,
    });
    expect(plan.status.phase).toBe('Suspended');
    expect(plan.start).toBeUndefined();
  });

  it('respects maxInFlight and maxPerMinute', () => {
    const busy = { ...observation([10, 50, 100], { inFlight: 95 }), startsLastMinute: 998 };
    const plan = planRollout({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: busy,
      window: always,
      now: T0,
    });
    expect(plan.start).toEqual({ maxRank: 10, limit: 2 });
  });

  it('completes when the last step has finished and nothing is in flight', () => {
    const plan = planRollout({
      rollout: rollout({ approved: 1 }),
      generation: 'g1',
      stored: stored({ currentStep: 2 }),
      observation: observation([0, 0, 0], { upToDate: 100, succeeded: 100 }),
      window: always,
      now: T0,
    });
    expect(plan.status.phase).toBe('Completed');
    expect(plan.status.conditions.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('forbids Execute while the window is closed', () => {
    const plan = planRollout({
      rollout: rollout(),
      generation: 'g1',
      stored: stored(),
      observation: observation([10, 50, 100], { downloaded: 3 }),
      window: { kind: 'closed', opensAt: T0 + 5 },
      now: T0,
    });
    expect(plan.executeAllowed).toBe(false);
    expect(plan.waits).toContainEqual({ kind: 'window', opensAt: T0 + 5 });
  });
});

describe('planning a rollout over a group that is still empty', () => {
  it('does not count an empty step as done, so no pause starts and no step is skipped', () => {
    const empty = observation([0, 0, 0], { selected: 0, pending: 0 });
    const emptySteps = { ...empty, steps: empty.steps.map((s) => ({ ...s, admitted: 0 })) };
    const plan = planRollout({
      rollout: rollout({ approved: 5 }),
      generation: 'g1',
      stored: undefined,
      observation: emptySteps,
      window: always,
      now: T0,
    });
    expect(plan.status).toMatchObject({ phase: 'Progressing', currentStep: 0, stepCompletedAt: null });
    expect(plan.events.map((e) => e.type)).not.toContain('StepCompleted');
  });
});
