import { parseStoredCounts } from '../../reconcile/plan/rollout-counts.js';
import { needsAttention } from '../../reconcile/plan/rollout-status.js';
import { describeTargetChange, type TargetChange } from '../../reconcile/plan/rollout-target.js';
import { admittedBy } from '../../reconcile/plan/step-share.js';
import type { RolloutPhase } from '../../store/rollout-phase.js';
import type { DeviceRow, EventRow, FirmwareUpdateRow, RolloutRow } from '../../store/schema.js';
import { reportedCodeText, resultMeaning, stateMeaning } from '../../store/update-codes.js';
import { publicDetails } from './public-details.js';
import type {
  CommitLookup,
  CommitView,
  ConditionView,
  DeviceView,
  EventView,
  PauseView,
  RolloutView,
  StepStatus,
  StepView,
  TargetChangeView,
  UpdateView,
} from './views.js';

export function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

export function isoOrNull(value: Date | string | null | undefined): string | null {
  return value === null || value === undefined ? null : iso(value);
}

type Loose = Record<string, unknown>;

function isObject(value: unknown): value is Loose {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function count(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** A name given either as a string or as an object with a `name`. */
function nameOf(value: unknown): string | null {
  if (typeof value === 'string') return value;
  return isObject(value) ? text(value.name) : null;
}

function pauseOf(value: unknown): PauseView {
  if (value === undefined || value === null || value === 'none') return { kind: 'none' };
  if (value === 'manual') return { kind: 'manual' };
  if (typeof value === 'number') return { kind: 'duration', ms: value };
  if (isObject(value)) {
    if (value.kind === 'none' || value.kind === 'manual') return { kind: value.kind };
    if (value.kind === 'duration' && typeof value.ms === 'number') return { kind: 'duration', ms: value.ms };
  }
  return { kind: 'other', text: typeof value === 'string' ? value : JSON.stringify(value) };
}

function targetChangeOf(value: unknown): TargetChangeView | null {
  if (!isObject(value) || !isObject(value.from) || !isObject(value.to)) return null;
  const target = (t: Loose) => ({ firmware: text(t.firmware) ?? '?', version: text(t.version) ?? '?' });
  const change: TargetChange = {
    from: target(value.from),
    to: target(value.to),
    revision: text(value.revision),
    at: typeof value.at === 'number' ? value.at : 0,
  };
  return { ...change, at: new Date(change.at).toISOString(), message: describeTargetChange(change) };
}

function conditionsOf(value: unknown): ConditionView[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isObject).map((c) => ({
    type: text(c.type) ?? '',
    status: text(c.status) ?? '',
    reason: text(c.reason),
    message: text(c.message),
    lastTransitionTime: text(c.lastTransitionTime),
  }));
}

/** Reads the resolved spec leniently: steps may sit at `steps` or `strategy.steps`. */
function specOf(value: unknown) {
  const spec = isObject(value) ? value : {};
  const strategy = isObject(spec.strategy) ? spec.strategy : {};
  const rawSteps = Array.isArray(spec.steps)
    ? spec.steps
    : Array.isArray(strategy.steps)
      ? strategy.steps
      : [];
  const firmware = spec.firmware;
  const maxInFlight = spec.maxInFlight ?? strategy.maxInFlight;
  return {
    group: nameOf(spec.group),
    firmware: nameOf(firmware),
    targetVersion: text(spec.targetVersion) ?? (isObject(firmware) ? text(firmware.version) : null),
    maxInFlight: typeof maxInFlight === 'number' ? maxInFlight : null,
    steps: rawSteps.filter(isObject).map((s) => ({ percent: count(s.percent), pause: pauseOf(s.pause) })),
  };
}

function stepStatus(index: number, currentStep: number, phase: RolloutPhase): StepStatus {
  if (index < currentStep || (index === currentStep && (phase === 'Completed' || phase === 'Degraded')))
    return 'completed';
  return index === currentStep ? 'current' : 'pending';
}

const NO_COMMITS: CommitLookup = new Map();

function commitOf(sha: string | null, commits: CommitLookup): CommitView | null {
  return sha === null ? null : (commits.get(sha) ?? null);
}

/** The revisions a rollout row names, for `loadCommits`. */
export function rolloutRevisions(row: RolloutRow): (string | null)[] {
  return [row.git_revision, row.step_approved_revision];
}

/** The revisions an update row names, for `loadCommits`. */
export function updateRevisions(row: FirmwareUpdateRow): (string | null)[] {
  return [row.git_revision, row.approved_revision];
}

export function toRolloutView(row: RolloutRow, commits: CommitLookup = NO_COMMITS): RolloutView {
  const spec = specOf(row.spec);
  const stored = parseStoredCounts(row.counts);
  const counts = stored.counts;
  const conditions = conditionsOf(row.conditions);
  const steps: StepView[] = spec.steps.map((step, index) => {
    const devices = stored.steps[index]?.admitted ?? admittedBy(step.percent, counts.selected);
    return {
      index,
      percent: step.percent,
      pause: step.pause,
      devices,
      upToDate: Math.min(counts.upToDate, devices),
      failed: index >= row.current_step ? Math.min(counts.failed, devices) : 0,
      status: stepStatus(index, row.current_step, row.phase),
    };
  });
  return {
    name: row.name,
    phase: row.phase,
    currentStep: row.current_step,
    stepCount: steps.length,
    stepStartedAt: isoOrNull(row.step_started_at),
    pausedReason: row.paused_reason,
    gitRevision: row.git_revision,
    commit: commitOf(row.git_revision, commits),
    stepApprovedRevision: row.step_approved_revision,
    stepApprovedCommit: commitOf(row.step_approved_revision, commits),
    generation: row.generation,
    observedGeneration: row.observed_generation,
    group: spec.group,
    firmware: spec.firmware,
    targetVersion: spec.targetVersion,
    maxInFlight: spec.maxInFlight,
    message: stored.message,
    needsAttention: needsAttention(row.conditions),
    lastTargetChange: targetChangeOf(row.target_change),
    counts,
    progress: counts.selected > 0 ? Math.min(1, counts.upToDate / counts.selected) : 0,
    steps,
    conditions,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    removedAt: isoOrNull(row.removed_at),
  };
}

export function toUpdateView(row: FirmwareUpdateRow, commits: CommitLookup = NO_COMMITS): UpdateView {
  return {
    id: Number(row.id),
    endpoint: row.endpoint,
    rollout: row.rollout,
    firmware: row.firmware,
    targetVersion: row.target_version,
    fromVersion: row.from_version,
    attempt: row.attempt,
    phase: row.phase,
    state: row.state,
    stateText: stateMeaning(row.state),
    result: row.result,
    resultText: resultMeaning(row.result),
    failureReason: row.failure_reason,
    packageUri: row.package_uri,
    gitRevision: row.git_revision,
    commit: commitOf(row.git_revision, commits),
    approvedRevision: row.approved_revision,
    approvedCommit: commitOf(row.approved_revision, commits),
    createdAt: iso(row.created_at),
    phaseChangedAt: iso(row.phase_changed_at),
    deadlineAt: isoOrNull(row.deadline_at),
    uriWrittenAt: isoOrNull(row.uri_written_at),
    downloadedAt: isoOrNull(row.downloaded_at),
    executedAt: isoOrNull(row.executed_at),
    finishedAt: isoOrNull(row.finished_at),
    refusal:
      row.refusal_code === null
        ? null
        : {
            code: row.refusal_code,
            uri: row.package_uri,
            deviceState: row.refusal_state,
            deviceStateText: row.refusal_state === null ? null : stateMeaning(row.refusal_state),
            deviceResult: row.refusal_result,
            deviceResultText: row.refusal_result === null ? null : resultMeaning(row.refusal_result),
            at: isoOrNull(row.refused_at),
          },
    resetAt: isoOrNull(row.reset_at),
  };
}

export function toDeviceView(
  row: DeviceRow,
  activeUpdate: FirmwareUpdateRow | undefined,
  lastUpdate: FirmwareUpdateRow | undefined,
  commits: CommitLookup = NO_COMMITS,
): DeviceView {
  const labels: Record<string, string> = {};
  if (isObject(row.labels)) {
    for (const [key, value] of Object.entries(row.labels)) if (typeof value === 'string') labels[key] = value;
  }
  return {
    endpoint: row.endpoint,
    firmwareVersion: row.firmware_version,
    model: row.model,
    manufacturer: row.manufacturer,
    serialNumber: row.serial_number,
    registrationState: row.registration_state,
    security: row.security,
    queueMode: row.queue_mode,
    registeredAt: isoOrNull(row.registered_at),
    lastSeenAt: isoOrNull(row.last_seen_at),
    labels,
    fwState: row.fw_state,
    fwResult: row.fw_result,
    fwStateText: reportedCodeText(row.fw_state, row.fw_state_raw, stateMeaning),
    fwResultText: reportedCodeText(row.fw_result, row.fw_result_raw, resultMeaning),
    activeUpdate: activeUpdate ? toUpdateView(activeUpdate, commits) : null,
    lastUpdate: lastUpdate ? toUpdateView(lastUpdate, commits) : null,
  };
}

export function toEventView(row: EventRow, commits: CommitLookup = NO_COMMITS): EventView {
  return {
    id: Number(row.id),
    at: iso(row.at),
    rollout: row.rollout,
    endpoint: row.endpoint,
    updateId: row.update_id === null ? null : Number(row.update_id),
    type: row.type,
    message: row.message,
    details: isObject(row.details) ? publicDetails(row.details) : {},
    gitRevision: row.git_revision,
    commit: commitOf(row.git_revision, commits),
  };
}
