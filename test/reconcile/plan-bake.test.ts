import { describe, expect, it } from 'vitest';
import type { RolloutVerify } from '../../controller/manifests/index.js';
import type { ActiveUpdate, DeviceView } from '../../controller/reconcile/plan/observation.js';
import { planUpdate } from '../../controller/reconcile/plan/plan-update.js';
import { BAKE_EXECUTED, bakingUpdate, T0 } from '../helpers/active-update.js';

const EXECUTED = BAKE_EXECUTED;
const BAKE: RolloutVerify = { bakeMs: 600_000, maxReboots: 0, errorCodes: 'watch' };
const QUIET = 30_000;

/** An update in its bake since T0 (until T0 + 10 min). */
const baking = (overrides: Partial<DeviceView> = {}): ActiveUpdate => bakingUpdate(overrides, BAKE.bakeMs);

const plan = (update: ActiveUpdate, now: number, verify: RolloutVerify | undefined = BAKE) =>
  planUpdate(update, {
    now,
    intent: { targetVersion: '2.0.0', executeAllowed: true, verify },
    pollQuietMs: QUIET,
  });

const failedWith = (reason: string) => ({
  actions: [
    {
      kind: 'finish',
      outcome: { phase: 'failed', result: 0, reason, retryable: false, resetDevice: false },
    },
  ],
});

describe('planning an update with a bake (spec.verify)', () => {
  it('begins the bake when the device reports the target, with the deadline and its registrations', () => {
    const updating: ActiveUpdate = {
      ...baking(),
      phase: 'updating',
      bakeUntil: null,
      bakeRegistrations: null,
    };
    expect(plan(updating, T0)).toMatchObject({
      actions: [{ kind: 'begin-bake', bakeUntil: T0 + 600_000, registrations: 4 }],
    });
    // Without a bake: succeeded at once, as before spec.verify.
    const noBake = { targetVersion: '2.0.0', executeAllowed: true };
    expect(planUpdate(updating, { now: T0, intent: noBake, pollQuietMs: QUIET })).toMatchObject({
      actions: [{ kind: 'finish', outcome: { phase: 'succeeded' } }],
    });
  });

  it('waits while healthy, and succeeds once the deadline passed', () => {
    const healthy = baking({ lastSeenAt: T0 + 590_000, errorCodeReadAt: T0 + 590_000 });
    // Looked at again when the bake ends (before the lifetime runs out or 3/0/11 goes quiet).
    expect(plan(healthy, T0 + 599_999)).toEqual({ actions: [], wait: 'verifying', recheckAt: T0 + 600_000 });
    expect(plan(healthy, T0 + 600_000)).toMatchObject({
      actions: [{ kind: 'finish', outcome: { phase: 'succeeded' } }],
    });
  });

  it('fails on more Registers than maxReboots, and counts them in the reason', () => {
    expect(plan(baking({ registrations: 6, lastSeenAt: T0 + 5_000 }), T0 + 10_000)).toMatchObject(
      failedWith('rebooted 2 times during bake'),
    );
    expect(plan(baking({ registrations: 5, lastSeenAt: T0 + 5_000 }), T0 + 10_000)).toMatchObject(
      failedWith('rebooted 1 time during bake'),
    );
    // Within maxReboots it bakes on.
    expect(
      plan(baking({ registrations: 5, lastSeenAt: T0 + 5_000 }), T0 + 10_000, { ...BAKE, maxReboots: 1 }),
    ).toMatchObject({ actions: [], wait: 'verifying' });
  });

  it('fails a device not seen for longer than its lifetime, even past the deadline', () => {
    expect(plan(baking({ lastSeenAt: T0 - 1_000 }), T0 + 300_000)).toMatchObject({ wait: 'verifying' });
    expect(plan(baking({ lastSeenAt: T0 - 1_000 }), T0 + 300_001)).toMatchObject(
      failedWith('not seen for 300 s during bake'),
    );
    expect(plan(baking({ lastSeenAt: T0 - 1_000 }), T0 + 700_000)).toMatchObject(
      failedWith('not seen for 300 s during bake'),
    );
  });

  it('fails on a non-zero 3/0/11 read since Execute, unless errorCodes is ignore', () => {
    const erring = baking({ errorCode: 5, errorCodeReadAt: T0 + 5_000, lastSeenAt: T0 + 5_000 });
    expect(plan(erring, T0 + 10_000)).toMatchObject(failedWith('error code 3/0/11 = 5 during bake'));
    expect(plan(erring, T0 + 10_000, { ...BAKE, errorCodes: 'ignore' })).toMatchObject({
      actions: [],
      wait: 'verifying',
    });
    // A code read before Execute belongs to the old firmware.
    expect(plan(baking({ errorCode: 5, errorCodeReadAt: EXECUTED - 1 }), T0 + 10_000)).toMatchObject({
      wait: 'verifying',
    });
  });

  it('observes 3/0/11 once per registration where the device has it, unless errorCodes is ignore', () => {
    const unfollowed = baking({ errorCode: 0, errorCodeReadAt: T0, errorCodeFollowed: false });
    expect(plan(unfollowed, T0 + 1)).toMatchObject({
      actions: [{ kind: 'follow-error-code' }],
      wait: 'verifying',
    });
    // Not seen since its bake began (T0), lifetime 300 s: looked at again when that runs out.
    expect(plan(unfollowed, T0 + 1, { ...BAKE, errorCodes: 'ignore' })).toEqual({
      actions: [],
      wait: 'verifying',
      recheckAt: T0 + 300_000,
    });
    expect(plan(baking({ errorCode: null, errorCodeFollowed: false }), T0 + 1)).toEqual({
      actions: [],
      wait: 'verifying',
      recheckAt: T0 + 300_000,
    });
    // Followed: looked at again when 3/0/11 has been quiet for pollQuietMs.
    expect(plan(baking({ errorCode: 0, errorCodeReadAt: T0, errorCodeFollowed: true }), T0 + 1)).toEqual({
      actions: [],
      wait: 'verifying',
      recheckAt: T0 + QUIET,
    });
  });

  it('reads a followed 3/0/11 again once the last report is older than pollQuietMs, where the device has it', () => {
    const quiet = baking({ errorCodeReadAt: T0, lastSeenAt: T0 + 100_000, errorCodeFollowed: true });
    expect(plan(quiet, T0 + QUIET - 1)).toEqual({ actions: [], wait: 'verifying', recheckAt: T0 + QUIET });
    expect(plan(quiet, T0 + QUIET)).toMatchObject({
      actions: [{ kind: 'read-error-code' }],
      wait: 'verifying',
    });
    // No 3/0/11 reported: nothing to read; ignore: not read.
    expect(plan(baking({ errorCode: null, errorCodeReadAt: null }), T0 + QUIET)).toEqual({
      actions: [],
      wait: 'verifying',
      recheckAt: T0 + 300_000,
    });
    expect(plan(quiet, T0 + QUIET, { ...BAKE, errorCodes: 'ignore' })).toEqual({
      actions: [],
      wait: 'verifying',
      recheckAt: T0 + 400_000,
    });
  });

  it('fails a device that reports another version during the bake (a rollback)', () => {
    expect(
      plan(baking({ firmwareVersion: '1.0.0', infoReadAt: T0 + 5_000, lastSeenAt: T0 + 5_000 }), T0 + 10_000),
    ).toMatchObject(failedWith('reports 1.0.0 during bake'));
  });

  it('is not withdrawn by a changed target: it bakes on under its rollout, and its deadline holds', () => {
    const update = baking({ lastSeenAt: T0 + 590_000, errorCodeReadAt: T0 + 590_000 });
    const changed = { targetVersion: '3.0.0', executeAllowed: true, verify: BAKE };
    expect(planUpdate(update, { now: T0 + 10_000, intent: changed, pollQuietMs: QUIET })).toEqual({
      actions: [],
      wait: 'verifying',
      recheckAt: T0 + 600_000,
    });
    // The rollout is gone: the strictest checks, the stored deadline.
    expect(planUpdate(update, { now: T0 + 600_000, intent: undefined, pollQuietMs: QUIET })).toMatchObject({
      actions: [{ kind: 'finish', outcome: { phase: 'succeeded' } }],
    });
  });
});
