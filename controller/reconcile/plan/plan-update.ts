import type { RolloutVerify } from '../../manifests/index.js';
import { describeResult, describeState } from '../../store/update-codes.js';
import { FirmwareState, UpdateResult } from '../../store/update-phase.js';
import type { UpdateAction, UpdateDecision, UpdateOutcome } from './actions.js';
import {
  type FailureKind,
  failureReasonForResult,
  isKnownResult,
  isRetryableResult,
  unknownResultReason,
} from './failure-kinds.js';
import type { ActiveUpdate } from './observation.js';
import { planBake } from './plan-bake.js';
import { PlanClock } from './plan-clock.js';

/** What the desired state says about an active update's rollout; undefined: the rollout is gone. */
export interface UpdateIntent {
  readonly targetVersion: string;
  /** Set when the rollout no longer wants not-yet-executed updates (aborted). */
  readonly withdrawReason?: string;
  /** Whether Execute may run now (maintenance window). */
  readonly executeAllowed: boolean;
  /** The rollout's health checks after the update (spec.verify); undefined: none. */
  readonly verify?: RolloutVerify | undefined;
}

export interface UpdatePlanContext {
  readonly intent: UpdateIntent | undefined;
  readonly now: number;
  /** A followed resource that has not changed for this long is read directly. */
  readonly pollQuietMs: number;
}

const ERROR_RESULTS = new Set<number>([2, 3, 4, 5, 6, 7, 8, 9]);

/**
 * Decides the next step of one active update from its row and its device's last reports. Pure:
 * the same inputs always give the same decision, so a restarted controller decides the same.
 * `recheckAt` says when the decision may change if nothing is reported meanwhile.
 */
export function planUpdate(update: ActiveUpdate, ctx: UpdatePlanContext): UpdateDecision {
  const clock = new PlanClock(ctx.now);
  const decision = decide(update, ctx, clock);
  const recheckAt = clock.next;
  return recheckAt === undefined ? decision : { ...decision, recheckAt };
}

function decide(update: ActiveUpdate, ctx: UpdatePlanContext, clock: PlanClock): UpdateDecision {
  const { now, intent } = ctx;
  const device = update.device;
  const expired = update.deadlineAt !== null && clock.reached(update.deadlineAt);
  const quiet = (lastReport: number | null, since: number | null) =>
    clock.reached(Math.max(lastReport ?? 0, since ?? 0) + ctx.pollQuietMs);

  if (update.phase === 'cancelling') {
    if (expired)
      return finish(update, {
        phase: 'cancelled',
        kind: 'withdrawn',
        reason: 'withdrawn (device did not confirm)',
      });
    return act({ kind: 'withdraw', update, reason: 'withdrawing' });
  }

  const withdrawReason =
    intent === undefined
      ? undefined
      : intent.targetVersion !== update.targetVersion
        ? `the rollout's target changed to ${intent.targetVersion}`
        : intent.withdrawReason;
  // Executed (the device installs, or runs, the new firmware): nothing left to withdraw.
  if (withdrawReason !== undefined && update.phase !== 'updating' && update.phase !== 'verifying') {
    if (update.phase === 'pending')
      return finish(update, { phase: 'cancelled', kind: 'withdrawn', reason: withdrawReason });
    return act({ kind: 'withdraw', update, reason: withdrawReason });
  }

  const registered = device.registrationState === 'registered';
  const executeAllowed = intent?.executeAllowed ?? true;
  // Reports older than the write of the Package URI belong to an earlier attempt.
  const reportedSince = (t: number | null) =>
    device.fwReportedAt !== null && t !== null && device.fwReportedAt >= t;

  switch (update.phase) {
    case 'pending': {
      const resetAt = update.resetAt;
      if (expired) {
        if (resetAt !== null && !(reportedSince(resetAt) && device.fwState === FirmwareState.IDLE)) {
          return fail(
            update,
            'timeout',
            0,
            'timeout: the device did not return to Idle after the reset',
            true,
            false,
          );
        }
        return fail(
          update,
          'timeout',
          0,
          'timeout: the device was not reachable to start the download',
          true,
          false,
        );
      }
      if (writeUnansweredButTaken(update)) return act({ kind: 'adopt-uri', update });
      if (!registered) return { actions: [], wait: 'device-offline' };
      if (resetAt !== null) {
        // Reset sent: the URI goes out once the device reports Idle since.
        if (reportedSince(resetAt) && device.fwState === FirmwareState.IDLE)
          return act({ kind: 'write-uri', update });
        if (quiet(device.fwReportedAt, resetAt)) {
          return { actions: [{ kind: 'poll-state', update }], wait: 'waiting-for-device' };
        }
        return { actions: [], wait: 'waiting-for-device' };
      }
      const busy = busyBeforeThisUpdate(update);
      if (busy !== undefined) return act({ kind: 'reset-before-write', update, reason: busy });
      return act({ kind: 'write-uri', update });
    }
    case 'downloading': {
      const fresh = reportedSince(update.uriWrittenAt);
      if (fresh && device.fwState === FirmwareState.DOWNLOADED) {
        const actions: UpdateAction[] = [{ kind: 'mark-downloaded', update }];
        if (executeAllowed && registered) actions.push({ kind: 'execute', update });
        if (!executeAllowed) return { actions, wait: 'outside-window' };
        return registered ? { actions } : { actions, wait: 'device-offline' };
      }
      const reported = fresh ? deviceError(update) : undefined;
      if (reported) return reported;
      const lost = lostInRestart(update);
      if (lost) return lost;
      if (expired) return fail(update, 'timeout', 0, 'timeout while downloading', true, true);
      if (registered && quiet(device.fwReportedAt, update.uriWrittenAt)) {
        return { actions: [{ kind: 'poll-state', update }], wait: 'downloading' };
      }
      return { actions: [], wait: 'downloading' };
    }
    case 'downloaded': {
      const reported = reportedSince(update.uriWrittenAt) ? deviceError(update) : undefined;
      if (reported) return reported;
      const lost = lostInRestart(update);
      if (lost) return lost;
      // Only an update sent back from Updating (rearm) keeps a deadline here: a device that never
      // installs must not be executed forever.
      if (expired)
        return fail(update, 'timeout', 0, 'timeout waiting for the device to install', true, false);
      if (!executeAllowed) return { actions: [], wait: 'outside-window' };
      return registered ? act({ kind: 'execute', update }) : { actions: [], wait: 'device-offline' };
    }
    case 'updating': {
      const executedAt = update.executedAt ?? update.phaseChangedAt;
      const infoReadAt = device.infoReadAt;
      if (
        infoReadAt !== null &&
        infoReadAt >= executedAt &&
        device.firmwareVersion === update.targetVersion
      ) {
        const verify = intent?.verify;
        if (verify === undefined) return finish(update, { phase: 'succeeded' });
        return act({
          kind: 'begin-bake',
          update,
          bakeSince: now,
          bakeUntil: now + verify.bakeMs,
          registrations: device.registrations,
        });
      }
      // A registration since Execute is a restart unless the device still reports Updating (State 3)
      // since it: then it registered again while installing (its registration ran out meanwhile).
      const rebooted =
        device.registeredAt !== null &&
        device.registeredAt >= executedAt &&
        !(reportedSince(device.registeredAt) && device.fwState === FirmwareState.UPDATING);
      // The old version counts against the device only if read after the restart: a read between
      // Execute and the restart shows the old firmware still running while it installs.
      if (
        infoReadAt !== null &&
        infoReadAt >= (rebooted ? (device.registeredAt ?? executedAt) : executedAt)
      ) {
        // A restarted device's object 3 is read before 5/0/3 and 5/0/5 are observed again, and those two
        // arrive separately: decide once its Result since the restart is in (or has had pollQuietMs to
        // arrive), so the failure carries the device's own code (8, or 1 with the old version).
        const resultIn =
          reportedSince(device.registeredAt) &&
          (device.fwResult !== UpdateResult.INITIAL ||
            clock.reached((device.registeredAt ?? 0) + ctx.pollQuietMs));
        // Back in State 2 after a restart: the package is there but was never installed (Execute
        // was lost, e.g. the controller died between claiming and sending it). Execute again.
        if (
          rebooted &&
          reportedSince(device.registeredAt) &&
          device.fwState === FirmwareState.DOWNLOADED &&
          !ERROR_RESULTS.has(device.fwResult ?? 0)
        ) {
          return act({
            kind: 'rearm',
            update,
            reason: 'the device restarted in State 2 (Downloaded) without installing',
          });
        }
        if (rebooted && !resultIn && !expired) {
          if (registered && quiet(device.fwReportedAt, device.registeredAt)) {
            return { actions: [{ kind: 'poll-state', update }], wait: 'updating' };
          }
          return { actions: [], wait: 'updating' };
        }
        const freshResult = reportedSince(executedAt) ? device.fwResult : null;
        // Without a restart, a version read before the success report may predate the install:
        // read it again (verify-version, below) rather than fail on it.
        const readAfterReport = infoReadAt >= (device.fwReportedAt ?? 0);
        if (rebooted || (freshResult === UpdateResult.SUCCESS && readAfterReport)) {
          const still = device.firmwareVersion ?? 'an unknown version';
          if (freshResult !== null && !isKnownResult(freshResult)) {
            return fail(
              update,
              'unknown-result',
              UpdateResult.INITIAL,
              `${unknownResultReason(freshResult)}; still on ${still}`,
              false,
              false,
            );
          }
          if (freshResult !== null && ERROR_RESULTS.has(freshResult)) {
            return fail(
              update,
              'device-result',
              freshResult,
              `${failureReasonForResult(freshResult)}; still on ${still}`,
              false,
              false,
            );
          }
          const reason =
            freshResult === UpdateResult.SUCCESS
              ? `reported success, still on ${still}`
              : `the device restarted still on ${still}`;
          return fail(update, 'not-installed', freshResult ?? 0, reason, false, false);
        }
      }
      if (reportedSince(executedAt)) {
        const reported = deviceError(update);
        if (reported) return reported;
        // Still Downloaded long after Execute (a read, not a late notification): it never arrived.
        if (device.fwState === FirmwareState.DOWNLOADED && reportedSince(executedAt + ctx.pollQuietMs)) {
          return act({
            kind: 'rearm',
            update,
            reason: 'the device is still Downloaded: Execute did not arrive',
          });
        }
        if (
          device.fwResult === UpdateResult.SUCCESS &&
          (device.infoReadAt ?? 0) < (device.fwReportedAt ?? 0)
        ) {
          return act({ kind: 'verify-version', update });
        }
      }
      if (expired) {
        return fail(
          update,
          'timeout',
          0,
          'timeout waiting for the device to report the new firmware',
          true,
          false,
        );
      }
      if (registered && quiet(device.fwReportedAt, executedAt)) {
        return { actions: [{ kind: 'poll-state', update }], wait: 'updating' };
      }
      return { actions: [], wait: 'updating' };
    }
    case 'verifying':
      return planBake(update, intent?.verify, ctx, clock);
  }
}

/** A terminal error code the device reported for this attempt, as a failure decision. */
function deviceError(update: ActiveUpdate): UpdateDecision | undefined {
  const { fwState, fwResult } = update.device;
  if (fwResult !== null && !isKnownResult(fwResult)) {
    // Not a code of the spec: the device failed in a way of its own. The row keeps 0, the code its reason.
    if (fwState !== FirmwareState.IDLE && fwState !== FirmwareState.DOWNLOADED) return undefined;
    return fail(update, 'unknown-result', UpdateResult.INITIAL, unknownResultReason(fwResult), false, false);
  }
  if (fwResult === null || !ERROR_RESULTS.has(fwResult)) {
    if (fwResult === UpdateResult.CANCELLED && fwState === FirmwareState.IDLE) {
      return finish(update, {
        phase: 'cancelled',
        kind: 'cancelled-by-device',
        reason: 'cancelled by the device',
      });
    }
    return undefined;
  }
  if (fwState !== FirmwareState.IDLE && fwState !== FirmwareState.DOWNLOADED) return undefined;
  return fail(
    update,
    'device-result',
    fwResult,
    failureReasonForResult(fwResult),
    isRetryableResult(fwResult),
    false,
  );
}

/**
 * Why a device must be brought back to Idle before this update writes its Package URI, or
 * undefined. Only a State seen before this update began counts: a State 1 or 2 reported since may
 * come from this update's own write (a controller that died before recording it), and writing the
 * URI again is right for that. An Idle device is never reset, whatever its Result: writing a new
 * URI clears the Result.
 */
/**
 * In `pending`, `uriWrittenAt` is set only by a Package URI write that got no answer (a timeout):
 * the write may have arrived and its answer been lost. A device that reports State 1 or 2 since
 * then (and since any reset that followed) is downloading that package: it was Idle when the URI
 * went out, and nothing else wrote one.
 */
function writeUnansweredButTaken(update: ActiveUpdate): boolean {
  const { uriWrittenAt, resetAt, device } = update;
  if (uriWrittenAt === null || (resetAt !== null && resetAt >= uriWrittenAt)) return false;
  if (device.fwReportedAt === null || device.fwReportedAt < uriWrittenAt) return false;
  return device.fwState === FirmwareState.DOWNLOADING || device.fwState === FirmwareState.DOWNLOADED;
}

function busyBeforeThisUpdate(update: ActiveUpdate): string | undefined {
  const { fwState, fwResult, fwReportedAt } = update.device;
  if (fwState !== FirmwareState.DOWNLOADING && fwState !== FirmwareState.DOWNLOADED) return undefined;
  if (fwReportedAt === null || fwReportedAt >= update.createdAt) return undefined;
  return `the device reports State ${describeState(fwState)}, Result ${describeResult(fwResult ?? 0)}`;
}

/**
 * A Register (not an Update) after the Package URI write, and State 0 reported since without an
 * error code: the device restarted and forgot the download (it starts Idle, often with Result 0).
 * Treated as what it is, Result 4 (connection lost during download), at once rather than at the
 * download timeout; the retry rules apply. A device that resumes after a restart reports State 1
 * or 2 and is left alone. An error code the device reports itself (say Result 4) is checked first
 * and wins: it is the device's own account. Which one applies does not depend on timing, since
 * after a Register device sync stores State and Result in one write (devices/interrogator.ts).
 */
function lostInRestart(update: ActiveUpdate): UpdateDecision | undefined {
  const { registeredAt, fwReportedAt, fwState, fwResult } = update.device;
  if (update.uriWrittenAt === null || registeredAt === null || registeredAt <= update.uriWrittenAt) {
    return undefined;
  }
  if (fwReportedAt === null || fwReportedAt < registeredAt || fwState !== FirmwareState.IDLE)
    return undefined;
  if (ERROR_RESULTS.has(fwResult ?? 0) || fwResult === UpdateResult.CANCELLED) return undefined;
  const phase = update.phase === 'downloaded' ? 'the downloaded package' : 'the download';
  return fail(
    update,
    'lost-in-restart',
    UpdateResult.CONNECTION_LOST,
    `${failureReasonForResult(UpdateResult.CONNECTION_LOST)}: the device restarted (registered again, State 0) and lost ${phase}`,
    isRetryableResult(UpdateResult.CONNECTION_LOST),
    false,
  );
}

function act(action: UpdateAction): UpdateDecision {
  return { actions: [action] };
}

export function finish(update: ActiveUpdate, outcome: UpdateOutcome): UpdateDecision {
  return { actions: [{ kind: 'finish', update, outcome }] };
}

function fail(
  update: ActiveUpdate,
  kind: FailureKind,
  result: number,
  reason: string,
  retryable: boolean,
  resetDevice: boolean,
): UpdateDecision {
  return finish(update, { phase: 'failed', kind, result, reason, retryable, resetDevice });
}
