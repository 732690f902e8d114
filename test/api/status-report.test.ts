import { describe, expect, it } from 'vitest';
import type { RolloutDetailView, StepView, UpdateView } from '../../controller/api/read-model/views.js';
import { renderHistory, renderRollout } from '../../controller/api/report/index.js';
import { ZERO_COUNTS } from '../../controller/reconcile/plan/rollout-counts.js';

function step(index: number, fields: Partial<StepView>): StepView {
  return {
    index,
    percent: 100,
    pause: { kind: 'none' },
    devices: 0,
    upToDate: 0,
    failed: 0,
    status: 'pending',
    ...fields,
  };
}

function rollout(fields: Partial<RolloutDetailView> = {}): RolloutDetailView {
  return {
    name: 'trackers',
    phase: 'Progressing',
    currentStep: 0,
    stepCount: 1,
    stepStartedAt: null,
    pausedReason: null,
    gitRevision: null,
    commit: null,
    stepApprovedRevision: null,
    stepApprovedCommit: null,
    generation: 'g1',
    observedGeneration: 'g1',
    group: 'trackers',
    firmware: 'tracker-2.1.0',
    targetVersion: '2.1.0',
    maxInFlight: 10,
    message: '',
    needsAttention: false,
    lastTargetChange: null,
    counts: ZERO_COUNTS,
    progress: 0,
    steps: [step(0, {})],
    conditions: [],
    createdAt: '2030-01-01T00:00:00.000Z',
    updatedAt: '2030-01-01T00:00:00.000Z',
    removedAt: null,
    recentFailures: [],
    ...fields,
  };
}

function failure(result: number, resultText: string, failureReason: string | null): UpdateView {
  return {
    id: 1,
    endpoint: 'sim-000004',
    rollout: 'trackers',
    firmware: 'tracker-2.1.0',
    targetVersion: '2.1.0',
    fromVersion: '2.0.0',
    attempt: 1,
    phase: 'failed',
    state: 0,
    stateText: 'idle',
    result,
    resultText,
    failureReason,
    packageUri: null,
    gitRevision: null,
    commit: null,
    approvedRevision: null,
    approvedCommit: null,
    createdAt: '2030-01-01T00:00:00.000Z',
    phaseChangedAt: '2030-01-01T00:01:00.000Z',
    deadlineAt: null,
    uriWrittenAt: null,
    downloadedAt: null,
    executedAt: null,
    finishedAt: '2030-01-01T00:01:00.000Z',
    refusal: null,
    resetAt: null,
  };
}

const failureLines = (view: RolloutDetailView) =>
  renderRollout(view)
    .split('\n')
    .filter((l) => l.includes('attempt'))
    .map((l) => l.trim());

describe('otactl status: one rollout', () => {
  it('says a failure reason only where it adds to the result and its meaning', () => {
    const lines = failureLines(
      rollout({
        recentFailures: [
          failure(6, 'unsupported package type', 'result 6: unsupported package type'),
          failure(
            4,
            'connection lost during download',
            'result 4: connection lost during download: the device restarted',
          ),
          failure(5, 'integrity check failure', 'integrity check failure'),
          failure(4, 'connection lost during download', 'timed out in downloading after 300s'),
        ],
      }),
    );
    expect(lines).toEqual([
      'sim-000004  attempt 1  result 6 unsupported package type  2030-01-01T00:01:00.000Z',
      'sim-000004  attempt 1  result 4 connection lost during download — the device restarted  2030-01-01T00:01:00.000Z',
      'sim-000004  attempt 1  result 5 integrity check failure  2030-01-01T00:01:00.000Z',
      'sim-000004  attempt 1  result 4 connection lost during download — timed out in downloading after 300s  2030-01-01T00:01:00.000Z',
    ]);
  });

  it('prints the sentence of a rollout paused by its failure threshold once, as paused and stalled', () => {
    const reason = '4 of 5 devices failed (threshold 20%); change the Rollout in git to resume';
    const text = renderRollout(
      rollout({
        phase: 'Paused',
        pausedReason: reason,
        message: reason,
        conditions: [
          { type: 'Stalled', status: 'True', reason: 'Paused', message: reason, lastTransitionTime: null },
        ],
      }),
    );
    expect(text.split('\n').filter((l) => l.includes(reason))).toEqual([`  paused, stalled: ${reason}`]);
  });

  it("prints a Degraded rollout's outcome once, and a different Stalled message on its own line", () => {
    const outcome = '1 of 5 devices on 2.1.0; 4 failed';
    const stalled = (message: string) => [
      { type: 'Stalled', status: 'True', reason: 'Degraded', message, lastTransitionTime: null },
    ];
    const once = renderRollout(
      rollout({ phase: 'Degraded', message: outcome, conditions: stalled(outcome) }),
    );
    expect(once.split('\n').filter((l) => l.includes(outcome))).toEqual([`  stalled: ${outcome}`]);
    const both = renderRollout(
      rollout({ phase: 'Degraded', message: outcome, conditions: stalled('other') }),
    );
    expect(both.split('\n').slice(1, 3)).toEqual([`  ${outcome}`, '  stalled: other']);
  });

  it('tells failed devices of a step apart from up-to-date ones', () => {
    const text = renderRollout(
      rollout({
        stepCount: 2,
        currentStep: 1,
        counts: { ...ZERO_COUNTS, selected: 20, upToDate: 16, succeeded: 16, failed: 4 },
        steps: [
          step(0, {
            percent: 25,
            devices: 5,
            upToDate: 5,
            failed: 4,
            status: 'completed',
            pause: { kind: 'manual' },
          }),
          step(1, { percent: 100, devices: 20, upToDate: 16, failed: 4, status: 'current' }),
        ],
      }),
    );
    const steps = text.split('\n').filter((l) => l.startsWith('  step '));
    expect(steps).toEqual([
      '  step 1  25% [####xxxxxxxxxxxxxxxx] 5/5   completed (4 failed; then waits for approval)',
      '  step 2 100% [################xxxx] 20/20 current (4 failed)',
    ]);
  });

  it('draws a step without failures as before', () => {
    const text = renderRollout(
      rollout({ steps: [step(0, { percent: 100, devices: 10, upToDate: 5, status: 'current' })] }),
    );
    expect(text).toContain('  step 1 100% [##########----------] 5/10 current');
  });
});

describe('otactl history', () => {
  it('says a failure reason only where it adds to the result and its meaning', () => {
    const update = failure(6, 'unsupported package type', 'result 6: unsupported package type');
    const text = renderHistory({
      endpoint: 'sim-000004',
      firmwareVersion: '2.0.0',
      model: null,
      manufacturer: null,
      serialNumber: null,
      registrationState: 'registered',
      security: 'none',
      queueMode: false,
      registeredAt: null,
      lastSeenAt: null,
      labels: {},
      fwState: 0,
      fwResult: 6,
      fwStateText: '0 idle',
      fwResultText: '6 unsupported package type',
      activeUpdate: null,
      lastUpdate: update,
      updates: [update],
      events: [],
    });
    expect(text).toContain('    state 0 idle · result 6 unsupported package type\n');
  });
});
