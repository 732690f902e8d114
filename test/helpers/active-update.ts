import type { ActiveUpdate, DeviceView } from '../../controller/reconcile/plan/observation.js';

/** The planner tests' "now": 1 Nov 2026, 12:00 UTC. */
export const T0 = Date.UTC(2026, 10, 1, 12);

/** A registered device on 1.0.0, read a minute before T0, idle (State 0), no Error Code object. */
export function deviceView(overrides: Partial<DeviceView> = {}): DeviceView {
  return {
    registrationState: 'registered',
    registeredAt: T0 - 60_000,
    firmwareVersion: '1.0.0',
    infoReadAt: T0 - 59_000,
    fwState: 0,
    fwResult: 0,
    fwReportedAt: T0 - 59_000,
    fwProtocolSupport: [2],
    model: 'SIM1',
    canCancel: true,
    registrations: 1,
    lastSeenAt: T0 - 60_000,
    lifetimeS: 300,
    errorCode: null,
    errorCodeReadAt: null,
    errorCodeFollowed: false,
    ...overrides,
  };
}

/** A pending update of dev-1 from 1.0.0 to 2.0.0, created at T0, due in 10 minutes, on `deviceView`. */
export function activeUpdate(
  overrides: Partial<ActiveUpdate> = {},
  deviceOverrides: Partial<DeviceView> = {},
): ActiveUpdate {
  return {
    id: 1,
    deviceId: 1,
    endpoint: 'dev-1',
    rollout: 'r',
    firmware: 'fw-2',
    targetVersion: '2.0.0',
    fromVersion: '1.0.0',
    phase: 'pending',
    attempt: 1,
    gitRevision: null,
    createdAt: T0,
    phaseChangedAt: T0,
    deadlineAt: T0 + 600_000,
    uriWrittenAt: null,
    executedAt: null,
    resetAt: null,
    bakeUntil: null,
    bakeRegistrations: null,
    device: deviceView(deviceOverrides),
    ...overrides,
  };
}

/** When `bakingUpdate`'s update was executed: two minutes before T0. */
export const BAKE_EXECUTED = T0 - 120_000;

/**
 * An update in its bake since T0 (until T0 + `bakeMs`, default 10 min), executed at BAKE_EXECUTED;
 * the device registered 4 times by then, runs 2.0.0 and follows 3/0/11 (0).
 */
export function bakingUpdate(overrides: Partial<DeviceView> = {}, bakeMs = 600_000): ActiveUpdate {
  const executed = BAKE_EXECUTED;
  return activeUpdate(
    {
      phase: 'verifying',
      createdAt: executed - 60_000,
      deadlineAt: null,
      uriWrittenAt: executed - 50_000,
      executedAt: executed,
      bakeUntil: T0 + bakeMs,
      bakeRegistrations: 4,
    },
    {
      registeredAt: executed + 20_000,
      firmwareVersion: '2.0.0',
      infoReadAt: executed + 21_000,
      fwResult: 1,
      fwReportedAt: executed + 21_000,
      registrations: 4,
      lastSeenAt: executed + 20_000,
      errorCode: 0,
      errorCodeReadAt: executed + 21_000,
      // Observed since the bake's first pass.
      errorCodeFollowed: true,
      ...overrides,
    },
  );
}
