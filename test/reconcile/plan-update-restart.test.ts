import { describe, expect, it } from 'vitest';
import type { ActiveUpdate, DeviceView } from '../../controller/reconcile/plan/observation.js';
import { planUpdate } from '../../controller/reconcile/plan/plan-update.js';
import { activeUpdate, T0 } from '../helpers/active-update.js';

const EXECUTED = T0 + 100;

/** An update in Updating since EXECUTED; the device as described (registered an hour before T0). */
function updating(device: Partial<DeviceView>): ActiveUpdate {
  return activeUpdate(
    {
      phase: 'updating',
      phaseChangedAt: EXECUTED,
      deadlineAt: T0 + 900_000,
      uriWrittenAt: T0 + 10,
      executedAt: EXECUTED,
    },
    {
      registeredAt: T0 - 3_600_000,
      infoReadAt: T0 - 3_600_000,
      fwState: 3,
      fwReportedAt: EXECUTED + 5,
      registrations: 2,
      lastSeenAt: T0,
      ...device,
    },
  );
}

const ctx = (now: number) => ({
  now,
  intent: { targetVersion: '2.0.0', executeAllowed: true },
  pollQuietMs: 30_000,
});

describe('planning an update whose device registers again after Execute', () => {
  it('keeps waiting for a device that registered again while still installing (State 3)', () => {
    // Its registration ran out while it installed: it registered again from the same socket, was
    // read (still the old version) and still reports Updating.
    const u = updating({
      registeredAt: EXECUTED + 10_000,
      infoReadAt: EXECUTED + 10_100,
      fwState: 3,
      fwResult: 0,
      fwReportedAt: EXECUTED + 10_200,
    });
    // Long past the time a restarted device's Result would have arrived.
    const decision = planUpdate(u, ctx(EXECUTED + 45_000));
    expect(decision.actions.filter((a) => a.kind === 'finish')).toEqual([]);
    expect(decision.wait).toBe('updating');
  });

  it('does not judge a restarted device by a version read before the restart', () => {
    // Read while installing (old version), then restarted and reported success: the version it
    // runs now is not known yet, so read it rather than fail.
    const u = updating({
      infoReadAt: EXECUTED + 10_100,
      registeredAt: EXECUTED + 20_000,
      fwState: 0,
      fwResult: 1,
      fwReportedAt: EXECUTED + 20_050,
    });
    expect(planUpdate(u, ctx(EXECUTED + 25_000)).actions.map((a) => a.kind)).toEqual(['verify-version']);
    // Once read after the restart, that read decides.
    const read = { ...u, device: { ...u.device, infoReadAt: EXECUTED + 20_100 } };
    expect(planUpdate(read, ctx(EXECUTED + 25_000)).actions[0]).toMatchObject({
      kind: 'finish',
      outcome: { phase: 'failed', reason: 'reported success, still on 1.0.0', retryable: false },
    });
    const upgraded = { ...read, device: { ...read.device, firmwareVersion: '2.0.0' } };
    expect(planUpdate(upgraded, ctx(EXECUTED + 25_000)).actions[0]).toMatchObject({
      outcome: { phase: 'succeeded' },
    });
  });

  it('reads the version again when success is reported after the last read, without a restart', () => {
    const u = updating({
      infoReadAt: EXECUTED + 1_000,
      fwState: 0,
      fwResult: 1,
      fwReportedAt: EXECUTED + 2_000,
    });
    expect(planUpdate(u, ctx(EXECUTED + 3_000)).actions.map((a) => a.kind)).toEqual(['verify-version']);
  });
});
