import type { Kysely } from 'kysely';
import { type ChangeResult, deviceText } from '../../lwm2m/index.js';
import type { ResolvedRollout } from '../../manifests/index.js';
import {
  type Database,
  FirmwareState,
  type FirmwareUpdateRow,
  type MoveEvent,
  type MoveTarget,
  phasesBefore,
  UpdateResult,
} from '../../store/index.js';
import type { UpdateAction, UpdateOutcome } from '../plan/actions.js';
import { classifyUriRefusal, isKnownResult, unknownResultReason } from '../plan/failure-kinds.js';
import type { ActiveUpdate, Candidate } from '../plan/observation.js';
import type { DeviceOps, PackageUriChoice } from './device-ops.js';
import type { UpdateTransitions } from './transition-writer.js';
import { beginUpdates, type UpdateChanges, type UpdateEvent } from './update-store.js';
import {
  describeRefusal,
  describeRefusalCode,
  refusalChanges,
  refusalDetails,
  uriRefusal,
} from './uri-refusal.js';

export interface ExecutorLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface ExecutorHooks {
  onStarted?(rollout: string): void;
  onFinished?(rollout: string, outcome: UpdateOutcome): void;
}

export interface ExecutorDeps {
  readonly db: Kysely<Database>;
  readonly ops: DeviceOps;
  readonly packageUri: (update: ActiveUpdate) => PackageUriChoice;
  readonly clock: () => number;
  readonly logger?: ExecutorLogger;
  readonly hooks?: ExecutorHooks;
  /** The timeouts of an update's rollout, applied when the update changes phase (defaults when it is gone). */
  readonly timeoutsOf: (rollout: string) => RolloutTimeouts;
  /** `retries.max` of an update's rollout, so a failure's event says whether another attempt follows. */
  readonly retriesOf?: (rollout: string) => number;
}

export interface RolloutTimeouts {
  readonly downloadMs: number;
  readonly updateMs: number;
}

const CANCEL_GRACE_MS = 120_000;

function describe(result: ChangeResult): string {
  switch (result.kind) {
    case 'ok':
      return result.code;
    case 'error': {
      // Cleaned again: DeviceOps is an interface, and NUL in a reason fails its row's transition.
      const message = result.message === undefined ? undefined : deviceText(result.message);
      return message === undefined ? result.code : `${result.code} ${message}`;
    }
    case 'timeout':
      return 'no answer (timeout)';
    case 'unreachable':
      return `unreachable (${result.reason})`;
    case 'invalid':
      return `invalid answer (${result.reason})`;
  }
}

/**
 * Inserts the active rows for the chosen candidates; the database constraint decides races. Runs in
 * the planner's (fenced) transaction: announce the rows with `announceStarted` after it commits.
 */
export async function startUpdates(
  db: Kysely<Database>,
  now: number,
  rollout: ResolvedRollout,
  candidates: readonly Candidate[],
  /** The commit that approved the current step (RolloutStatus.stepApprovedRevision). */
  approvedRevision: string | null = null,
): Promise<FirmwareUpdateRow[]> {
  const revision = rollout.source.revision?.commit?.sha ?? null;
  return beginUpdates(
    db,
    candidates.map((candidate) => ({
      device_id: candidate.deviceId,
      endpoint: candidate.endpoint,
      rollout: rollout.name,
      firmware: rollout.firmware.name,
      target_version: rollout.firmware.version,
      from_version: candidate.firmwareVersion,
      attempt: candidate.attempt,
      git_revision: revision,
      approved_revision: approvedRevision,
      created_at: new Date(now),
      phase_changed_at: new Date(now),
      deadline_at: new Date(now + rollout.timeouts.downloadMs),
    })),
    (row) => ({
      type: 'UpdateStarted',
      message: `update ${row.from_version ?? '?'} -> ${row.target_version} started (attempt ${row.attempt})`,
      details: { attempt: row.attempt, from: row.from_version, to: row.target_version },
    }),
    {
      rollout: rollout.name,
      maxInFlight: rollout.strategy.maxInFlight,
      maxPerMinute: rollout.strategy.maxPerMinute,
    },
  );
}

/** Hooks and log lines for updates that started (once their rows committed). */
export function announceStarted(
  deps: ExecutorDeps,
  rollout: ResolvedRollout,
  rows: readonly FirmwareUpdateRow[],
): void {
  for (const row of rows) {
    deps.hooks?.onStarted?.(rollout.name);
    deps.logger?.info(
      { endpoint: row.endpoint, rollout: rollout.name, attempt: row.attempt },
      `update to ${rollout.firmware.version} started`,
    );
  }
}

/**
 * One step of an update: a planned action, or the device reset that follows a failure which asked
 * for one (`resetDevice`), split off so the failure is recorded without waiting on the device.
 */
export type UpdateStep = UpdateAction | { readonly kind: 'reset-device'; readonly update: ActiveUpdate };

/** An update's steps, split at its first device request. */
export interface UpdateWork {
  /** Leading steps that only change the database: a pass runs them at once, in one statement. */
  readonly database: readonly UpdateStep[];
  /** The rest, from the first device request on: run in the background once `database` went through. */
  readonly device: readonly UpdateStep[];
}

function isDatabaseOnly(step: UpdateStep): boolean {
  return (
    step.kind === 'mark-downloaded' ||
    step.kind === 'adopt-uri' ||
    step.kind === 'rearm' ||
    step.kind === 'begin-bake' ||
    step.kind === 'finish'
  );
}

function stepsOf(actions: readonly UpdateAction[]): UpdateStep[] {
  return actions.flatMap((action): UpdateStep[] =>
    action.kind === 'finish' && action.outcome.phase === 'failed' && action.outcome.resetDevice
      ? [action, { kind: 'reset-device', update: action.update }]
      : [action],
  );
}

export function splitWork(actions: readonly UpdateAction[]): UpdateWork {
  const steps = stepsOf(actions);
  const firstDevice = steps.findIndex((step) => !isDatabaseOnly(step));
  return firstDevice === -1
    ? { database: steps, device: [] }
    : { database: steps.slice(0, firstDevice), device: steps.slice(firstDevice) };
}

/** Carries out steps in order; stops at the first that did not go through, and says whether all did. */
export async function runSteps(
  deps: ExecutorDeps,
  transitions: UpdateTransitions,
  steps: readonly UpdateStep[],
): Promise<boolean> {
  for (const step of steps) {
    if (!(await runStep(deps, transitions, step))) return false;
  }
  return true;
}

function logFields(update: ActiveUpdate): object {
  return { endpoint: update.endpoint, rollout: update.rollout, attempt: update.attempt, updateId: update.id };
}

async function runStep(
  deps: ExecutorDeps,
  transitions: UpdateTransitions,
  step: UpdateStep,
): Promise<boolean> {
  const { update } = step;
  // The phases a move starts from come from the table (UPDATE_MOVES): a move it lacks does not compile.
  const move = <T extends MoveTarget>(
    phase: T,
    changes: UpdateChanges,
    event: UpdateEvent & { readonly type: MoveEvent<T> },
    at = deps.clock(),
    /** A request follows this move: the update's device command stays claimed (see Transition). */
    keepCommand = false,
  ) =>
    transitions.move({
      id: update.id,
      from: phasesBefore(phase, event.type),
      phase,
      phaseChangedAt: new Date(at),
      changes,
      event,
      ...(keepCommand ? { keepCommand } : {}),
    });
  switch (step.kind) {
    case 'write-uri': {
      const choice = deps.packageUri(update);
      if (!choice.ok) {
        return finish(deps, transitions, update, {
          phase: 'failed',
          kind: 'no-package-uri',
          result: 0,
          reason: `no package URI for this device: ${choice.reason}`,
          retryable: !choice.permanent,
          resetDevice: false,
        });
      }
      const writtenAt = deps.clock();
      const result = await deps.ops.writePackageUri(update.endpoint, choice.uri);
      if (result.kind === 'ok') {
        const moved = await move(
          'downloading',
          {
            state: FirmwareState.DOWNLOADING,
            package_uri: choice.uri,
            uri_written_at: new Date(writtenAt),
            deadline_at: new Date(writtenAt + deps.timeoutsOf(update.rollout).downloadMs),
          },
          { type: 'PackageUriWritten', message: `wrote 5/0/1 = ${choice.uri}`, details: { uri: choice.uri } },
        );
        if (moved) deps.logger?.info(logFields(update), `package URI written: ${choice.uri}`);
        return moved;
      }
      if (result.kind === 'error') {
        // What the device was doing when it refused: read now, since its last report may be old.
        const read = await deps.ops.pollFirmwareState(update.endpoint);
        const refusal = uriRefusal(choice.uri, result.code, read, update.device, deps.clock());
        const verdict = classifyUriRefusal(refusal.code, refusal.state, update.resetAt !== null);
        const record = { changes: refusalChanges(refusal), details: { refusal: refusalDetails(refusal) } };
        if (verdict.kind === 'fail') {
          return finish(
            deps,
            transitions,
            update,
            {
              phase: 'failed',
              kind: 'uri-refused',
              result: 0,
              reason: `the device refused the Package URI, ${verdict.reason}: ${describeRefusalCode(refusal)}`,
              retryable: verdict.retryable,
              resetDevice: false,
            },
            record,
          );
        }
        const recorded = await move(
          'pending',
          record.changes,
          {
            type: 'PackageUriRefused',
            message: `the device refused the Package URI: ${describeRefusal(refusal)}; resetting it to Idle to write it again`,
            details: record.details,
          },
          deps.clock(),
          true,
        );
        if (!recorded) return false;
        deps.logger?.warn(logFields(update), `package URI refused: ${describeRefusal(refusal)}; resetting`);
        return runStep(deps, transitions, {
          kind: 'reset-before-write',
          update,
          reason: `it refused the Package URI with ${refusal.code}`,
        });
      }
      if (result.kind === 'timeout') {
        // It may have arrived and only its answer been lost: the attempt is recorded, so a device
        // that reports the download it started is taken at its word (plan-update's adopt-uri).
        const recorded = await move(
          'pending',
          { package_uri: choice.uri, uri_written_at: new Date(writtenAt) },
          {
            type: 'PackageUriUnanswered',
            message: `wrote 5/0/1 = ${choice.uri}, no answer (${describe(result)}): waiting for the device to report Downloading, else writing it again`,
            details: { uri: choice.uri },
          },
        );
        if (recorded) {
          deps.logger?.warn(
            logFields(update),
            `package URI write unanswered (${describe(result)}); retrying on a later pass`,
          );
        }
        return recorded;
      }
      deps.logger?.warn(
        logFields(update),
        `writing the package URI: ${describe(result)}; retrying on a later pass`,
      );
      return false;
    }
    case 'adopt-uri': {
      const writtenAt = update.uriWrittenAt ?? deps.clock();
      const moved = await move(
        'downloading',
        {
          state: FirmwareState.DOWNLOADING,
          deadline_at: new Date(writtenAt + deps.timeoutsOf(update.rollout).downloadMs),
        },
        {
          type: 'PackageUriTaken',
          message: `the device reports State ${update.device.fwState} since the Package URI write that got no answer: it arrived, the download goes on`,
        },
      );
      if (moved)
        deps.logger?.info(
          logFields(update),
          'package URI write unanswered but taken: the device is downloading',
        );
      return moved;
    }
    case 'mark-downloaded':
      return move(
        'downloaded',
        {
          state: FirmwareState.DOWNLOADED,
          downloaded_at: new Date(update.device.fwReportedAt ?? deps.clock()),
          deadline_at: null,
        },
        { type: 'DownloadCompleted', message: 'the device reports the package downloaded (State 2)' },
      );
    case 'execute': {
      // Claim first: only the pass that moves the row to `updating` sends Execute, so duplicate or
      // reordered notifications, a second pass or a second replica can never execute twice. This
      // move ends the update's device command too: from here the move is the claim, and no
      // statement is spent giving the command back after the request.
      const executedAt = deps.clock();
      const claimed = await move(
        'updating',
        {
          state: FirmwareState.UPDATING,
          executed_at: new Date(executedAt),
          // An update sent back from Updating (rearm) keeps its first deadline, so a device that keeps
          // coming back without installing is not executed forever.
          deadline_at:
            update.phase === 'downloaded' && update.deadlineAt !== null
              ? new Date(update.deadlineAt)
              : new Date(executedAt + deps.timeoutsOf(update.rollout).updateMs),
        },
        { type: 'UpdateExecuted', message: 'executed 5/0/2 (Update)' },
        executedAt,
      );
      if (!claimed) return false;
      const result = await deps.ops.executeUpdate(update.endpoint);
      if (result.kind === 'error' && result.code === '4.05') {
        // Execute is allowed in State 2 only: a 4.05 says the device is not in Downloaded now.
        // One that reads Downloading again (its download restarted, say by a second Package URI
        // write) is waited for as any download is, not failed into a retry's backoff.
        const read = await deps.ops.pollFirmwareState(update.endpoint);
        if (read?.state === FirmwareState.DOWNLOADING) {
          // The deadline Execute set stays: a device that keeps restarting still times out.
          const moved = await move(
            'downloading',
            { state: FirmwareState.DOWNLOADING, downloaded_at: null, executed_at: null },
            {
              type: 'UpdateExecuteRefused',
              message:
                'the device refused Execute (4.05) and reads State 1 (Downloading): waiting for Downloaded again',
              details: { code: result.code, state: read.state, result: read.result ?? null },
            },
          );
          if (moved) deps.logger?.warn(logFields(update), 'Execute refused while downloading; waiting');
          return moved;
        }
      }
      if (result.kind === 'error') {
        return finish(
          deps,
          transitions,
          { ...update, phase: 'updating' },
          {
            phase: 'failed',
            kind: 'execute-refused',
            result: 0,
            reason: `the device refused Execute (${describe(result)})`,
            retryable: true,
            resetDevice: false,
          },
        );
      }
      if (result.kind === 'unreachable') {
        // Never sent (the device is not registered, or its queue is full): give the claim back so a
        // later pass executes once the device is reachable. A timeout is different: the device may
        // have executed and rebooted before answering, which is normal.
        await move(
          'downloaded',
          { state: FirmwareState.DOWNLOADED, executed_at: null, deadline_at: null },
          { type: 'UpdateExecuteNotSent', message: `Execute could not be sent: ${describe(result)}` },
        );
        return false;
      }
      deps.logger?.info(logFields(update), `Execute sent: ${describe(result)}`);
      return true;
    }
    case 'rearm':
      return move(
        'downloaded',
        // The deadline of the Updating phase stays: a device that never installs still times out.
        { state: FirmwareState.DOWNLOADED },
        { type: 'UpdateRearmed', message: `${step.reason}; Execute again` },
      );
    case 'begin-bake': {
      const moved = await move(
        'verifying',
        { bake_until: new Date(step.bakeUntil), bake_registrations: step.registrations, deadline_at: null },
        {
          type: 'UpdateVerifying',
          message: `now running ${update.targetVersion}; verifying until ${new Date(step.bakeUntil).toISOString()}`,
          details: { bakeUntil: new Date(step.bakeUntil).toISOString() },
        },
        step.bakeSince,
      );
      if (moved) deps.logger?.info(logFields(update), `now on ${update.targetVersion}; baking`);
      return moved;
    }
    case 'follow-error-code':
      await deps.ops.readErrorCode(update.endpoint, 'observe');
      return true;
    case 'read-error-code':
      await deps.ops.readErrorCode(update.endpoint, 'read');
      return true;
    case 'poll-state':
      await deps.ops.pollFirmwareState(update.endpoint);
      return true;
    case 'verify-version':
      await deps.ops.readFirmwareVersion(update.endpoint);
      return true;
    case 'withdraw': {
      if (update.phase !== 'cancelling') {
        const now = deps.clock();
        const moved = await move(
          'cancelling',
          { deadline_at: new Date(now + CANCEL_GRACE_MS) },
          {
            type: 'UpdateCancelling',
            message: `withdrawing: ${step.reason}`,
            details: { reason: step.reason },
          },
          now,
          true,
        );
        if (!moved) return false;
      }
      const result = await deps.ops.writePackageUri(update.endpoint, '');
      if (result.kind === 'ok' || result.kind === 'error') {
        return finish(
          deps,
          transitions,
          { ...update, phase: 'cancelling' },
          {
            phase: 'cancelled',
            kind: 'withdrawn',
            reason: update.phase === 'cancelling' ? 'withdrawn' : step.reason,
          },
        );
      }
      return false;
    }
    case 'reset-before-write': {
      // Before the request: a State 0 the device reports from here on answers this reset.
      const sentAt = deps.clock();
      const reset = await resetToIdle(deps.ops, update);
      if (reset.kind === 'no-answer') {
        deps.logger?.warn(
          logFields(update),
          `resetting the device to Idle: ${reset.detail}; retrying on a later pass`,
        );
        return false;
      }
      if (reset.kind === 'refused') {
        return finish(deps, transitions, update, {
          phase: 'failed',
          kind: 'reset-refused',
          result: 0,
          reason: `the device refused to return to Idle (${reset.method}: ${reset.code}) before the Package URI write`,
          retryable: false,
          resetDevice: false,
        });
      }
      const moved = await move(
        'pending',
        { reset_at: new Date(sentAt) },
        {
          type: 'DeviceReset',
          message: `reset to Idle before writing the Package URI (${reset.method}): ${step.reason}`,
          details: {
            method: reset.method,
            reason: step.reason,
            deviceState: update.device.fwState,
            deviceResult: update.device.fwResult,
          },
        },
        sentAt,
      );
      if (moved)
        deps.logger?.info(logFields(update), `device reset to Idle (${reset.method}): ${step.reason}`);
      return moved;
    }
    case 'finish':
      return finish(deps, transitions, update, step.outcome);
    case 'reset-device':
      // Best effort: a device that is still downloading drops it; if it does not answer, nothing is lost.
      await deps.ops.writePackageUri(update.endpoint, '');
      return true;
  }
}

/** What a finish records besides the outcome: more columns, more event details. */
interface FinishRecord {
  readonly changes?: UpdateChanges;
  readonly details?: Record<string, unknown>;
}

type ResetOutcome =
  | { readonly kind: 'sent'; readonly method: string }
  | { readonly kind: 'refused'; readonly method: string; readonly code: string }
  | { readonly kind: 'no-answer'; readonly detail: string };

/**
 * Cancel 5/0/10 where the device's object 5 has it; an empty Package URI otherwise, or when the
 * device answers Cancel 4.04/4.05 (its links promised more than it has).
 */
async function resetToIdle(ops: DeviceOps, update: ActiveUpdate): Promise<ResetOutcome> {
  if (update.device.canCancel) {
    const cancel = await ops.cancelUpdate(update.endpoint);
    if (cancel.kind === 'ok') return { kind: 'sent', method: 'Cancel 5/0/10' };
    if (cancel.kind !== 'error') return { kind: 'no-answer', detail: `Cancel 5/0/10: ${describe(cancel)}` };
    if (cancel.code !== '4.04' && cancel.code !== '4.05') {
      return { kind: 'refused', method: 'Cancel 5/0/10', code: cancel.code };
    }
  }
  const empty = await ops.writePackageUri(update.endpoint, '');
  const method = 'empty Package URI 5/0/1';
  if (empty.kind === 'ok') return { kind: 'sent', method };
  if (empty.kind === 'error') return { kind: 'refused', method, code: empty.code };
  return { kind: 'no-answer', detail: `${method}: ${describe(empty)}` };
}

async function finish(
  deps: ExecutorDeps,
  transitions: UpdateTransitions,
  update: ActiveUpdate,
  outcome: UpdateOutcome,
  record: FinishRecord = {},
): Promise<boolean> {
  const now = new Date(deps.clock());
  if (outcome.phase === 'failed' && !isKnownResult(outcome.result)) {
    // The result column takes the spec's codes only (a CHECK): a failure carrying another keeps it
    // in its reason, so no device value can make this transition fail every pass.
    outcome = {
      ...outcome,
      kind: 'unknown-result',
      result: UpdateResult.INITIAL,
      reason: outcome.reason.includes(unknownResultReason(outcome.result))
        ? outcome.reason
        : `${outcome.reason} (${unknownResultReason(outcome.result)})`,
    };
  }
  const result =
    outcome.phase === 'succeeded'
      ? UpdateResult.SUCCESS
      : outcome.phase === 'cancelled'
        ? UpdateResult.CANCELLED
        : outcome.result;
  const event =
    outcome.phase === 'succeeded'
      ? { type: 'UpdateSucceeded', message: `now running ${update.targetVersion}` }
      : outcome.phase === 'cancelled'
        ? { type: 'UpdateCancelled', message: `cancelled: ${outcome.reason}` }
        : {
            type: 'UpdateFailed',
            message: `failed: ${outcome.reason}${willRetry(deps, update, outcome.retryable) ? ' (will retry)' : ''}`,
            details: {
              result: outcome.result,
              reason: outcome.reason,
              retryable: outcome.retryable,
              ...record.details,
            },
          };
  const finished = await transitions.move({
    id: update.id,
    from: [update.phase],
    phase: outcome.phase,
    phaseChangedAt: now,
    changes: {
      state: FirmwareState.IDLE,
      result,
      failure_reason: outcome.phase === 'succeeded' ? null : outcome.reason,
      retryable: outcome.phase === 'failed' ? outcome.retryable : null,
      deadline_at: null,
      finished_at: now,
      bake_until: null,
      bake_registrations: null,
      ...record.changes,
    },
    event,
  });
  if (!finished) return false;
  deps.hooks?.onFinished?.(update.rollout, outcome);
  if (deps.logger) {
    if (outcome.phase === 'succeeded')
      deps.logger.info(logFields(update), `update succeeded: now on ${update.targetVersion}`);
    else deps.logger.warn(logFields(update), event.message);
  }
  return true;
}

function willRetry(deps: ExecutorDeps, update: ActiveUpdate, retryable: boolean): boolean {
  if (!retryable) return false;
  return deps.retriesOf === undefined || update.attempt <= deps.retriesOf(update.rollout);
}

export const DEFAULT_TIMEOUTS: RolloutTimeouts = { downloadMs: 30 * 60_000, updateMs: 15 * 60_000 };
