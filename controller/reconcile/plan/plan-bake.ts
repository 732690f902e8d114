import type { RolloutVerify } from '../../manifests/index.js';
import type { UpdateDecision } from './actions.js';
import type { FailureKind } from './failure-kinds.js';
import type { ActiveUpdate } from './observation.js';
import type { PlanClock } from './plan-clock.js';
import { finish, type UpdatePlanContext } from './plan-update.js';

/**
 * The checks of an update whose rollout is gone while it bakes: the strictest, as the defaults of
 * spec.verify are (its bake deadline is in the row).
 */
const GONE_ROLLOUT_VERIFY: Omit<RolloutVerify, 'bakeMs'> = { maxReboots: 0, errorCodes: 'watch' };

/**
 * Decides an update in its bake (`verifying`): it fails at the first sign of trouble since the bake
 * began, with the reason in words, and succeeds once the bake deadline passed without one. Pure,
 * like `planUpdate`. A health failure is not retried: the firmware runs, and it is what fails.
 */
export function planBake(
  update: ActiveUpdate,
  verify: Omit<RolloutVerify, 'bakeMs'> | undefined,
  ctx: UpdatePlanContext,
  clock: PlanClock,
): UpdateDecision {
  const device = update.device;
  const checks = verify ?? GONE_ROLLOUT_VERIFY;
  const bakeSince = update.phaseChangedAt;
  const unhealthy = (kind: FailureKind, reason: string) =>
    finish(update, { phase: 'failed', kind, result: 0, reason, retryable: false, resetDevice: false });

  const reboots = device.registrations - (update.bakeRegistrations ?? device.registrations);
  if (reboots > checks.maxReboots) {
    return unhealthy('bake-reboots', `rebooted ${reboots} ${reboots === 1 ? 'time' : 'times'} during bake`);
  }
  if (
    device.infoReadAt !== null &&
    device.infoReadAt >= bakeSince &&
    device.firmwareVersion !== update.targetVersion
  ) {
    return unhealthy('bake-version', `reports ${device.firmwareVersion ?? 'no version'} during bake`);
  }
  // The Error Code a read since Execute shows: what the new firmware reports from its first boot on.
  const executedAt = update.executedAt ?? bakeSince;
  const errorCode =
    checks.errorCodes === 'watch' && device.errorCodeReadAt !== null && device.errorCodeReadAt >= executedAt
      ? device.errorCode
      : null;
  if (errorCode !== null && errorCode !== 0) {
    return unhealthy('bake-error-code', `error code 3/0/11 = ${errorCode} during bake`);
  }
  if (device.lifetimeS !== null) {
    const seen = Math.max(device.lastSeenAt ?? 0, bakeSince);
    if (clock.passed(seen + device.lifetimeS * 1000)) {
      return unhealthy('bake-unseen', `not seen for ${device.lifetimeS} s during bake`);
    }
  }
  if (update.bakeUntil === null || clock.reached(update.bakeUntil))
    return finish(update, { phase: 'succeeded' });
  // A device that has 3/0/11 is observed on it (once per registration), and read directly whenever
  // it has been quiet for pollQuietMs (a notification may be lost; a device may refuse the observation).
  if (
    checks.errorCodes !== 'watch' ||
    device.errorCode === null ||
    device.registrationState !== 'registered'
  ) {
    return { actions: [], wait: 'verifying' };
  }
  if (!device.errorCodeFollowed)
    return { actions: [{ kind: 'follow-error-code', update }], wait: 'verifying' };
  if (clock.reached(Math.max(device.errorCodeReadAt ?? 0, bakeSince) + ctx.pollQuietMs)) {
    return { actions: [{ kind: 'read-error-code', update }], wait: 'verifying' };
  }
  return { actions: [], wait: 'verifying' };
}
