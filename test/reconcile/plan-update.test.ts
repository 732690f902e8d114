import { describe, expect, it } from 'vitest';
import { outcomeLabel } from '../../controller/reconcile/plan/actions.js';
import { classifyUriRefusal } from '../../controller/reconcile/plan/failure-kinds.js';
import type { DeviceView } from '../../controller/reconcile/plan/observation.js';
import { planUpdate, type UpdatePlanContext } from '../../controller/reconcile/plan/plan-update.js';
import { T0, activeUpdate as update } from '../helpers/active-update.js';

const ctx = (
  now: number,
  intent: UpdatePlanContext['intent'] = { targetVersion: '2.0.0', executeAllowed: true },
) => ({
  now,
  intent,
  pollQuietMs: 30_000,
});

const kinds = (d: ReturnType<typeof planUpdate>) => d.actions.map((a) => a.kind);

describe('planning one update', () => {
  it('writes the package URI of a pending update to a registered device', () => {
    expect(kinds(planUpdate(update(), ctx(T0 + 1)))).toEqual(['write-uri']);
  });

  it('takes an unanswered Package URI write as arrived once the device reports downloading since', () => {
    // pending with uriWrittenAt: the write timed out (recorded); the answer may have been lost.
    const unanswered = (device: Partial<DeviceView>, changes = {}) =>
      update({ uriWrittenAt: T0 + 10, ...changes }, device);
    expect(kinds(planUpdate(unanswered({ fwState: 1, fwReportedAt: T0 + 15 }), ctx(T0 + 20)))).toEqual([
      'adopt-uri',
    ]);
    expect(kinds(planUpdate(unanswered({ fwState: 2, fwReportedAt: T0 + 15 }), ctx(T0 + 20)))).toEqual([
      'adopt-uri',
    ]);
    // Offline now, but it said so before going: still taken (a database move, no request).
    const gone = unanswered({ fwState: 1, fwReportedAt: T0 + 15, registrationState: 'expired' });
    expect(kinds(planUpdate(gone, ctx(T0 + 20)))).toEqual(['adopt-uri']);
    // Idle since the write: it never arrived; written again.
    expect(kinds(planUpdate(unanswered({ fwState: 0, fwReportedAt: T0 + 15 }), ctx(T0 + 20)))).toEqual([
      'write-uri',
    ]);
    // A report from before the write says nothing about it.
    expect(kinds(planUpdate(unanswered({ fwState: 1, fwReportedAt: T0 + 5 }), ctx(T0 + 20)))).toEqual([
      'write-uri',
    ]);
    // A reset after the write: the download reported is not taken for this write's.
    const reset = unanswered({ fwState: 1, fwReportedAt: T0 + 30 }, { resetAt: T0 + 20 });
    expect(kinds(planUpdate(reset, ctx(T0 + 40)))).not.toContain('adopt-uri');
  });

  it('waits for an offline device, and gives up at the deadline', () => {
    const offline = update({}, { registrationState: 'expired' });
    expect(planUpdate(offline, ctx(T0 + 1))).toEqual({
      actions: [],
      wait: 'device-offline',
      recheckAt: T0 + 600_000,
    });
    const late = planUpdate(offline, ctx(T0 + 600_000));
    expect(late.actions[0]).toMatchObject({ kind: 'finish', outcome: { phase: 'failed', retryable: true } });
  });

  it('ignores reports older than the Package URI write', () => {
    const u = update(
      { phase: 'downloading', uriWrittenAt: T0 + 10 },
      { fwState: 0, fwResult: 4, fwReportedAt: T0 + 5 },
    );
    // Looked at again once quiet for pollQuietMs since the write (before the deadline).
    expect(planUpdate(u, ctx(T0 + 20))).toEqual({ actions: [], wait: 'downloading', recheckAt: T0 + 30_010 });
  });

  it('executes once the device reports Downloaded, only inside the window', () => {
    const u = update({ phase: 'downloading', uriWrittenAt: T0 + 10 }, { fwState: 2, fwReportedAt: T0 + 15 });
    expect(kinds(planUpdate(u, ctx(T0 + 20)))).toEqual(['mark-downloaded', 'execute']);
    const closed = planUpdate(u, ctx(T0 + 20, { targetVersion: '2.0.0', executeAllowed: false }));
    expect(kinds(closed)).toEqual(['mark-downloaded']);
    expect(closed.wait).toBe('outside-window');
  });

  it('ends the attempt with the Update Result the device reports', () => {
    const u = update(
      { phase: 'downloading', uriWrittenAt: T0 + 10 },
      { fwState: 0, fwResult: 6, fwReportedAt: T0 + 15 },
    );
    const action = planUpdate(u, ctx(T0 + 20)).actions[0];
    expect(action).toMatchObject({
      kind: 'finish',
      outcome: { phase: 'failed', kind: 'device-result', result: 6, retryable: false },
    });
    // The metric's label: the Result's number, not the words (which may quote the device).
    if (action?.kind === 'finish') expect(outcomeLabel(action.outcome)).toBe('result-6');
    const transient = update(
      { phase: 'downloading', uriWrittenAt: T0 + 10 },
      { fwState: 0, fwResult: 4, fwReportedAt: T0 + 15 },
    );
    expect(planUpdate(transient, ctx(T0 + 20)).actions[0]).toMatchObject({
      outcome: { result: 4, retryable: true },
    });
  });

  it('times out a download and resets the device', () => {
    const u = update(
      { phase: 'downloading', uriWrittenAt: T0 + 10, deadlineAt: T0 + 100 },
      { fwState: 1, fwReportedAt: T0 + 15 },
    );
    expect(planUpdate(u, ctx(T0 + 100)).actions[0]).toMatchObject({
      outcome: { phase: 'failed', kind: 'timeout', reason: 'timeout while downloading', resetDevice: true },
    });
  });

  it('polls a download that went quiet', () => {
    const u = update({ phase: 'downloading', uriWrittenAt: T0 + 10 }, { fwState: 1, fwReportedAt: T0 + 15 });
    expect(kinds(planUpdate(u, ctx(T0 + 15 + 30_000)))).toEqual(['poll-state']);
  });

  it('succeeds only on the new version read after Execute', () => {
    const updating = {
      phase: 'updating' as const,
      uriWrittenAt: T0 + 10,
      executedAt: T0 + 100,
      deadlineAt: T0 + 900_000,
    };
    const before = update(updating, { firmwareVersion: '2.0.0', infoReadAt: T0 + 50 });
    expect(planUpdate(before, ctx(T0 + 200)).actions).toEqual([]);
    const after = update(updating, {
      firmwareVersion: '2.0.0',
      infoReadAt: T0 + 150,
      registeredAt: T0 + 140,
    });
    expect(planUpdate(after, ctx(T0 + 200)).actions[0]).toMatchObject({ outcome: { phase: 'succeeded' } });
  });

  it('fails a device that reports success but keeps its old version', () => {
    const u = update(
      { phase: 'updating', uriWrittenAt: T0 + 10, executedAt: T0 + 100, deadlineAt: T0 + 900_000 },
      {
        firmwareVersion: '1.0.0',
        infoReadAt: T0 + 150,
        registeredAt: T0 + 140,
        fwResult: 1,
        fwReportedAt: T0 + 145,
      },
    );
    expect(planUpdate(u, ctx(T0 + 200)).actions[0]).toMatchObject({
      outcome: { phase: 'failed', result: 1, reason: 'reported success, still on 1.0.0', retryable: false },
    });
  });

  it('reads the version when the device reports success without re-registering', () => {
    const u = update(
      { phase: 'updating', uriWrittenAt: T0 + 10, executedAt: T0 + 100, deadlineAt: T0 + 900_000 },
      { fwState: 0, fwResult: 1, fwReportedAt: T0 + 150 },
    );
    expect(kinds(planUpdate(u, ctx(T0 + 200)))).toEqual(['verify-version']);
  });

  it('times out a device that never comes back after Execute', () => {
    const u = update(
      { phase: 'updating', uriWrittenAt: T0 + 10, executedAt: T0 + 100, deadlineAt: T0 + 1000 },
      { registrationState: 'expired' },
    );
    expect(planUpdate(u, ctx(T0 + 1000)).actions[0]).toMatchObject({
      outcome: {
        phase: 'failed',
        reason: 'timeout waiting for the device to report the new firmware',
        retryable: true,
      },
    });
  });

  it('withdraws not-yet-executed updates when the target changes, but lets Updating finish', () => {
    const changed = { targetVersion: '3.0.0', executeAllowed: true };
    expect(planUpdate(update(), ctx(T0 + 1, changed)).actions[0]).toMatchObject({
      outcome: { phase: 'cancelled' },
    });
    const downloading = update({ phase: 'downloading', uriWrittenAt: T0 + 10 });
    expect(kinds(planUpdate(downloading, ctx(T0 + 20, changed)))).toEqual(['withdraw']);
    const updating = update({
      phase: 'updating',
      uriWrittenAt: T0 + 10,
      executedAt: T0 + 100,
      deadlineAt: T0 + 9e5,
    });
    expect(kinds(planUpdate(updating, ctx(T0 + 200, changed)))).toEqual([]);
  });

  it('is deterministic: the same inputs decide the same', () => {
    const u = update({ phase: 'downloading', uriWrittenAt: T0 + 10 }, { fwState: 2, fwReportedAt: T0 + 15 });
    expect(planUpdate(u, ctx(T0 + 20))).toEqual(planUpdate(u, ctx(T0 + 20)));
  });
});

describe('planning Execute for a device that is not reachable', () => {
  it('records the download but does not execute while the device is offline', () => {
    const u = update(
      { phase: 'downloading', uriWrittenAt: T0 + 10 },
      { fwState: 2, fwReportedAt: T0 + 15, registrationState: 'expired' },
    );
    const decision = planUpdate(u, ctx(T0 + 20));
    expect(kinds(decision)).toEqual(['mark-downloaded']);
    expect(decision.wait).toBe('device-offline');
  });
});

describe('an Execute that never reached the device', () => {
  const updating = {
    phase: 'updating' as const,
    uriWrittenAt: T0 + 10,
    executedAt: T0 + 100,
    deadlineAt: T0 + 900_000,
  };

  it('sends the update back to Downloaded when the device restarts still in State 2', () => {
    const u = update(updating, {
      registeredAt: T0 + 200,
      infoReadAt: T0 + 210,
      fwState: 2,
      fwResult: 0,
      fwReportedAt: T0 + 220,
    });
    expect(planUpdate(u, ctx(T0 + 300)).actions[0]).toMatchObject({ kind: 'rearm' });
  });

  it('sends it back when a read long after Execute still finds State 2, not on a late notification', () => {
    const late = update(updating, { fwState: 2, fwResult: 0, fwReportedAt: T0 + 150 });
    expect(kinds(planUpdate(late, ctx(T0 + 160)))).toEqual([]);
    const read = update(updating, { fwState: 2, fwResult: 0, fwReportedAt: T0 + 100 + 30_000 });
    expect(kinds(planUpdate(read, ctx(T0 + 100 + 30_001)))).toEqual(['rearm']);
  });

  it('gives up on a re-armed update at its deadline instead of executing forever', () => {
    const rearmed = update({
      phase: 'downloaded',
      uriWrittenAt: T0 + 10,
      executedAt: T0 + 100,
      deadlineAt: T0 + 1000,
    });
    expect(planUpdate(rearmed, ctx(T0 + 1000)).actions[0]).toMatchObject({
      kind: 'finish',
      outcome: { phase: 'failed', reason: 'timeout waiting for the device to install' },
    });
  });
});

describe('a device that restarts during the download', () => {
  const downloading = (device: Partial<DeviceView>) =>
    update({ phase: 'downloading', uriWrittenAt: T0 + 10 }, { fwState: 1, fwReportedAt: T0 + 20, ...device });

  it('fails at once with Result 4 (retryable) once it registered again and reports State 0 without an error', () => {
    const decision = planUpdate(
      downloading({ registeredAt: T0 + 5_000, fwState: 0, fwResult: 0, fwReportedAt: T0 + 5_100 }),
      ctx(T0 + 6_000),
    );
    expect(decision.actions).toEqual([
      expect.objectContaining({
        kind: 'finish',
        outcome: expect.objectContaining({ phase: 'failed', result: 4, retryable: true }),
      }),
    ]);
  });

  it('leaves alone a device that registered again and still downloads, or whose State 0 predates the Register', () => {
    const resumed = downloading({
      registeredAt: T0 + 5_000,
      fwState: 1,
      fwResult: 0,
      fwReportedAt: T0 + 5_100,
    });
    expect(kinds(planUpdate(resumed, ctx(T0 + 6_000)))).toEqual([]);
    const beforeRegister = downloading({
      registeredAt: T0 + 5_000,
      fwState: 0,
      fwResult: 0,
      fwReportedAt: T0 + 30,
    });
    expect(kinds(planUpdate(beforeRegister, ctx(T0 + 6_000)))).toEqual([]);
    const registeredBeforeWrite = downloading({
      registeredAt: T0,
      fwState: 0,
      fwResult: 0,
      fwReportedAt: T0 + 30,
    });
    expect(kinds(planUpdate(registeredBeforeWrite, ctx(T0 + 6_000)))).toEqual([]);
  });
});

describe('a device found busy before its Package URI is written', () => {
  it('is reset only when it reported State 1 or 2 before this update began', () => {
    const before = { fwReportedAt: T0 - 1_000 };
    expect(kinds(planUpdate(update({}, { ...before, fwState: 2, fwResult: 8 }), ctx(T0 + 1)))).toEqual([
      'reset-before-write',
    ]);
    expect(kinds(planUpdate(update({}, { ...before, fwState: 1, fwResult: 0 }), ctx(T0 + 1)))).toEqual([
      'reset-before-write',
    ]);
  });

  it('never resets an Idle device, whatever its Result, nor one whose State may come from this update', () => {
    for (const fwResult of [0, 1, 4, 8, 10]) {
      expect(
        kinds(planUpdate(update({}, { fwState: 0, fwResult, fwReportedAt: T0 - 1_000 }), ctx(T0 + 1))),
      ).toEqual(['write-uri']);
    }
    // Reported after the update began: possibly this update's own write (a controller that died before recording it).
    expect(
      kinds(planUpdate(update({}, { fwState: 1, fwResult: 0, fwReportedAt: T0 + 5 }), ctx(T0 + 10))),
    ).toEqual(['write-uri']);
    expect(
      kinds(planUpdate(update({}, { fwState: null, fwResult: null, fwReportedAt: null }), ctx(T0 + 1))),
    ).toEqual(['write-uri']);
  });

  it('after the reset writes once the device reports Idle since, polls a quiet one, and times out a stuck one', () => {
    const reset = { resetAt: T0 + 100 };
    expect(
      kinds(planUpdate(update(reset, { fwState: 0, fwResult: 10, fwReportedAt: T0 + 150 }), ctx(T0 + 200))),
    ).toEqual(['write-uri']);
    expect(
      kinds(planUpdate(update(reset, { fwState: 2, fwResult: 8, fwReportedAt: T0 - 1_000 }), ctx(T0 + 200))),
    ).toEqual([]);
    expect(
      kinds(
        planUpdate(update(reset, { fwState: 2, fwResult: 8, fwReportedAt: T0 - 1_000 }), ctx(T0 + 40_000)),
      ),
    ).toEqual(['poll-state']);
    const late = planUpdate(
      update(reset, { fwState: 2, fwResult: 8, fwReportedAt: T0 - 1_000 }),
      ctx(T0 + 700_000),
    );
    expect(late.actions[0]).toMatchObject({
      kind: 'finish',
      outcome: { phase: 'failed', reason: 'timeout: the device did not return to Idle after the reset' },
    });
  });
});

describe('classifying a refused Package URI write', () => {
  it.each([
    ['4.00', 2, false, 'reset-and-retry', undefined],
    ['4.06', 1, false, 'reset-and-retry', undefined],
    ['4.00', null, false, 'reset-and-retry', undefined],
    ['4.00', 2, true, 'fail', false],
    ['4.00', 0, false, 'fail', false],
    ['4.04', 2, false, 'fail', false],
    ['4.05', 0, false, 'fail', false],
    ['4.05', 3, false, 'fail', true],
    ['5.00', 0, false, 'fail', true],
    ['4.13', 0, false, 'fail', false],
  ] as const)('%s with State %s (reset before: %s) -> %s', (code, state, alreadyReset, kind, retryable) => {
    const verdict = classifyUriRefusal(code, state, alreadyReset);
    expect(verdict.kind).toBe(kind);
    if (verdict.kind === 'fail') expect(verdict.retryable).toBe(retryable);
  });
});
