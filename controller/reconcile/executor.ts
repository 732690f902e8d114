import type { Kysely } from 'kysely';
import type { ChangeResult } from '../lwm2m/index.js';
import type { ResolvedRollout } from '../manifests/index.js';
import { type Database, FirmwareState, UpdateResult } from '../store/index.js';
import type { UpdateAction, UpdateOutcome } from './actions.js';
import type { DeviceOps, PackageUriChoice } from './device-ops.js';
import type { ActiveUpdate, Candidate } from './observation.js';
import { beginUpdates, type EventContext, transitionUpdate } from './update-store.js';

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

function ctxOf(update: ActiveUpdate): EventContext {
  return { rollout: update.rollout, endpoint: update.endpoint, gitRevision: update.gitRevision };
}

function describe(result: ChangeResult): string {
  switch (result.kind) {
    case 'ok':
      return result.code;
    case 'error':
      return `${result.code}${result.message ? ` ${result.message}` : ''}`;
    case 'timeout':
      return 'no answer (timeout)';
    case 'unreachable':
      return `unreachable (${result.reason})`;
    case 'invalid':
      return `invalid answer (${result.reason})`;
  }
}

/** Inserts the active rows for the chosen candidates; the database constraint decides races. */
export async function startUpdates(
  deps: ExecutorDeps,
  rollout: ResolvedRollout,
  candidates: readonly Candidate[],
): Promise<number> {
  const now = deps.clock();
  const revision = rollout.source.revision?.commit?.sha ?? null;
  const rows = await beginUpdates(
    deps.db,
    candidates.map((candidate) => ({
      device_id: candidate.deviceId,
      endpoint: candidate.endpoint,
      rollout: rollout.name,
      firmware: rollout.firmware.name,
      target_version: rollout.firmware.version,
      from_version: candidate.firmwareVersion,
      attempt: candidate.attempt,
      git_revision: revision,
      created_at: new Date(now),
      phase_changed_at: new Date(now),
      deadline_at: new Date(now + rollout.timeouts.downloadMs),
    })),
    (row) => ({
      type: 'UpdateStarted',
      message: `update ${row.from_version ?? '?'} -> ${row.target_version} started (attempt ${row.attempt})`,
      details: { attempt: row.attempt, from: row.from_version, to: row.target_version },
    }),
  );
  for (const row of rows) {
    deps.hooks?.onStarted?.(rollout.name);
    deps.logger?.info(
      { endpoint: row.endpoint, rollout: rollout.name, attempt: row.attempt },
      `update to ${rollout.firmware.version} started`,
    );
  }
  return rows.length;
}

/** Carries out one update's actions in order; stops at the first that did not go through. */
export async function runUpdateActions(deps: ExecutorDeps, actions: readonly UpdateAction[]): Promise<void> {
  for (const action of actions) {
    const proceed = await runAction(deps, action);
    if (!proceed) return;
  }
}

async function runAction(deps: ExecutorDeps, action: UpdateAction): Promise<boolean> {
  const { update } = action;
  const log = {
    endpoint: update.endpoint,
    rollout: update.rollout,
    attempt: update.attempt,
    updateId: update.id,
  };
  switch (action.kind) {
    case 'write-uri': {
      const choice = deps.packageUri(update);
      if (!choice.ok) {
        return finish(deps, update, {
          phase: 'failed',
          result: 0,
          reason: `no package URI for this device: ${choice.reason}`,
          retryable: !choice.permanent,
          resetDevice: false,
        });
      }
      const writtenAt = deps.clock();
      const result = await deps.ops.writePackageUri(update.endpoint, choice.uri);
      if (result.kind === 'ok') {
        const moved = await transitionUpdate(
          deps.db,
          update.id,
          ['pending'],
          {
            phase: 'downloading',
            state: FirmwareState.DOWNLOADING,
            package_uri: choice.uri,
            uri_written_at: new Date(writtenAt),
            phase_changed_at: new Date(deps.clock()),
            deadline_at: new Date(writtenAt + deps.timeoutsOf(update.rollout).downloadMs),
          },
          ctxOf(update),
          { type: 'PackageUriWritten', message: `wrote 5/0/1 = ${choice.uri}`, details: { uri: choice.uri } },
        );
        if (moved) deps.logger?.info(log, `package URI written: ${choice.uri}`);
        return moved;
      }
      if (result.kind === 'error') {
        return finish(deps, update, {
          phase: 'failed',
          result: 0,
          reason: `the device refused the Package URI (${describe(result)})`,
          // 4.05 means "not now" (the device is busy, e.g. still installing): try again later.
          retryable: result.code === '4.05',
          resetDevice: false,
        });
      }
      deps.logger?.warn(log, `writing the package URI: ${describe(result)}; retrying on a later pass`);
      return false;
    }
    case 'mark-downloaded':
      return transitionUpdate(
        deps.db,
        update.id,
        ['downloading'],
        {
          phase: 'downloaded',
          state: FirmwareState.DOWNLOADED,
          downloaded_at: new Date(update.device.fwReportedAt ?? deps.clock()),
          phase_changed_at: new Date(deps.clock()),
          deadline_at: null,
        },
        ctxOf(update),
        { type: 'DownloadCompleted', message: 'the device reports the package downloaded (State 2)' },
      );
    case 'execute': {
      // Claim first: only the pass that moves the row to `updating` sends Execute, so duplicate or
      // reordered notifications, a second pass or a second replica can never execute twice.
      const executedAt = deps.clock();
      const claimed = await transitionUpdate(
        deps.db,
        update.id,
        ['downloaded'],
        {
          phase: 'updating',
          state: FirmwareState.UPDATING,
          executed_at: new Date(executedAt),
          phase_changed_at: new Date(executedAt),
          // An update sent back from Updating (rearm) keeps its first deadline, so a device that keeps
          // coming back without installing is not executed forever.
          deadline_at:
            update.phase === 'downloaded' && update.deadlineAt !== null
              ? new Date(update.deadlineAt)
              : new Date(executedAt + deps.timeoutsOf(update.rollout).updateMs),
        },
        ctxOf(update),
        { type: 'UpdateExecuted', message: 'executed 5/0/2 (Update)' },
      );
      if (!claimed) return false;
      const result = await deps.ops.executeUpdate(update.endpoint);
      if (result.kind === 'error') {
        return finish(
          deps,
          { ...update, phase: 'updating' },
          {
            phase: 'failed',
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
        await transitionUpdate(
          deps.db,
          update.id,
          ['updating'],
          {
            phase: 'downloaded',
            state: FirmwareState.DOWNLOADED,
            executed_at: null,
            phase_changed_at: new Date(deps.clock()),
            deadline_at: null,
          },
          ctxOf(update),
          { type: 'UpdateExecuteNotSent', message: `Execute could not be sent: ${describe(result)}` },
        );
        return false;
      }
      deps.logger?.info(log, `Execute sent: ${describe(result)}`);
      return true;
    }
    case 'rearm':
      return transitionUpdate(
        deps.db,
        update.id,
        ['updating'],
        // The deadline of the Updating phase stays: a device that never installs still times out.
        { phase: 'downloaded', state: FirmwareState.DOWNLOADED, phase_changed_at: new Date(deps.clock()) },
        ctxOf(update),
        { type: 'UpdateRearmed', message: `${action.reason}; Execute again` },
      );
    case 'poll-state':
      await deps.ops.pollFirmwareState(update.endpoint);
      return true;
    case 'verify-version':
      await deps.ops.readFirmwareVersion(update.endpoint);
      return true;
    case 'withdraw': {
      if (update.phase !== 'cancelling') {
        const moved = await transitionUpdate(
          deps.db,
          update.id,
          ['downloading', 'downloaded'],
          {
            phase: 'cancelling',
            phase_changed_at: new Date(deps.clock()),
            deadline_at: new Date(deps.clock() + CANCEL_GRACE_MS),
          },
          ctxOf(update),
          {
            type: 'UpdateCancelling',
            message: `withdrawing: ${action.reason}`,
            details: { reason: action.reason },
          },
        );
        if (!moved) return false;
      }
      const result = await deps.ops.writePackageUri(update.endpoint, '');
      if (result.kind === 'ok' || result.kind === 'error') {
        return finish(
          deps,
          { ...update, phase: 'cancelling' },
          { phase: 'cancelled', reason: update.phase === 'cancelling' ? 'withdrawn' : action.reason },
        );
      }
      return false;
    }
    case 'finish':
      return finish(deps, update, action.outcome);
  }
}

async function finish(deps: ExecutorDeps, update: ActiveUpdate, outcome: UpdateOutcome): Promise<boolean> {
  const now = new Date(deps.clock());
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
            details: { result: outcome.result, reason: outcome.reason, retryable: outcome.retryable },
          };
  const finished = await transitionUpdate(
    deps.db,
    update.id,
    [update.phase],
    {
      phase: outcome.phase,
      state: FirmwareState.IDLE,
      result,
      failure_reason: outcome.phase === 'succeeded' ? null : outcome.reason,
      retryable: outcome.phase === 'failed' ? outcome.retryable : null,
      phase_changed_at: now,
      deadline_at: null,
      finished_at: now,
    },
    ctxOf(update),
    event,
  );
  if (!finished) return false;
  deps.hooks?.onFinished?.(update.rollout, outcome);
  const log = {
    endpoint: update.endpoint,
    rollout: update.rollout,
    attempt: update.attempt,
    updateId: update.id,
  };
  if (outcome.phase === 'succeeded')
    deps.logger?.info(log, `update succeeded: now on ${update.targetVersion}`);
  else deps.logger?.warn(log, event.message);
  if (outcome.phase === 'failed' && outcome.resetDevice) {
    // Best effort: a device that is still downloading drops it; if it does not answer, nothing is lost.
    await deps.ops.writePackageUri(update.endpoint, '');
  }
  return true;
}

function willRetry(deps: ExecutorDeps, update: ActiveUpdate, retryable: boolean): boolean {
  if (!retryable) return false;
  return deps.retriesOf === undefined || update.attempt <= deps.retriesOf(update.rollout);
}

export const DEFAULT_TIMEOUTS: RolloutTimeouts = { downloadMs: 30 * 60_000, updateMs: 15 * 60_000 };
