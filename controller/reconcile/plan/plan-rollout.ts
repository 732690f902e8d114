import type { ResolvedRollout } from '../../manifests/index.js';
import type { WindowState } from './maintenance-window.js';
import type { RolloutObservation } from './observation.js';
import type { RolloutCounts } from './rollout-counts.js';
import {
  conditionsFor,
  type RolloutPhase,
  type RolloutStatus,
  type StoredRolloutStatus,
} from './rollout-status.js';
import { describeTargetChange, type TargetEpoch } from './rollout-target.js';
import { type GateCheck, gateDecision } from './step-gate.js';
import { stepDone, stepShare } from './step-share.js';

/** Why a rollout starts fewer updates than its group needs right now (for `otactl plan`). */
export type RolloutWait =
  | { readonly kind: 'suspended' }
  | { readonly kind: 'aborted'; readonly reason: string }
  | { readonly kind: 'failure-threshold'; readonly reason: string }
  | { readonly kind: 'pause'; readonly step: number; readonly until: number }
  | { readonly kind: 'approval'; readonly step: number; readonly approvedNeeded: number }
  | { readonly kind: 'gate'; readonly step: number; readonly reason: string }
  | { readonly kind: 'step-in-progress'; readonly step: number; readonly unfinished: number }
  | { readonly kind: 'unread'; readonly devices: number; readonly until: number }
  | { readonly kind: 'state-unread'; readonly devices: number; readonly until: number }
  | { readonly kind: 'in-flight-limit'; readonly maxInFlight: number }
  | { readonly kind: 'rate-limit'; readonly maxPerMinute: number }
  | { readonly kind: 'window'; readonly opensAt: number | null }
  | { readonly kind: 'conflict'; readonly devices: number; readonly examples: readonly string[] }
  | { readonly kind: 'downgrade-refused'; readonly devices: number };

export interface RolloutPlanInput {
  readonly rollout: ResolvedRollout;
  /** Hash of the rollout's own spec: a commit that changes it resumes a tripped threshold. */
  readonly generation: string;
  readonly stored: StoredRolloutStatus | undefined;
  /** The target this pass plans for (controller/reconcile/plan/rollout-target.ts). */
  readonly epoch: TargetEpoch;
  readonly observation: RolloutObservation;
  readonly window: WindowState;
  /** The gate's last answers for the current target, by the step (0-based) they let start; absent: none yet. */
  readonly gateChecks?: ReadonlyMap<number, GateCheck>;
  readonly now: number;
}

export interface RolloutEvent {
  readonly type: string;
  readonly message: string;
}

export interface RolloutPlan {
  readonly status: RolloutStatus;
  /**
   * Start updates for eligible devices: retries of devices already started, and the first `room`
   * devices waiting in canary order (see `fitsShare`); at most `limit` of them.
   */
  readonly start: { readonly room: number; readonly limit: number } | undefined;
  /** Not-yet-executed updates of this rollout are to be withdrawn (aborted rollout). */
  readonly withdrawReason: string | undefined;
  readonly executeAllowed: boolean;
  readonly waits: readonly RolloutWait[];
  readonly events: readonly RolloutEvent[];
  /** Ask the rollout's gate whether this step (0-based) may start: none asked yet, or refused an interval ago. */
  readonly askGate: { readonly step: number } | undefined;
}

/** Decides a rollout's step, phase and how many updates may start now. Pure. */
export function planRollout(input: RolloutPlanInput): RolloutPlan {
  const { rollout, generation, epoch, observation, now } = input;
  const events: RolloutEvent[] = [];
  const waits: RolloutWait[] = [];
  // A new target is a new rollout of the same name: nothing of the old target's strategy state holds.
  const stored = epoch.changedNow ? undefined : input.stored;
  if (epoch.changedNow && epoch.lastTargetChange) {
    events.push({ type: 'TargetChanged', message: describeTargetChange(epoch.lastTargetChange) });
  }
  const steps = rollout.strategy.steps;
  // The first plan of a target (a new rollout, or one retargeted) starts step 1: people hear the
  // rollout begin, not first when its first step is done.
  if (stored === undefined) {
    events.push({
      type: 'StepStarted',
      message: `step 1 of ${steps.length} started (${steps[0]!.percent}%)`,
    });
  }
  const executeAllowed = input.window.kind !== 'closed';
  const counts: RolloutCounts = {
    ...observation.counts,
    waitingForWindow: executeAllowed ? 0 : observation.counts.downloaded,
  };
  const shares = steps.map((s) => stepShare(s.percent, observation.share));

  // Failure threshold: sticky within one generation of the spec; a commit that changes the spec lifts it.
  const threshold = rollout.strategy.failureThreshold;
  const finished = counts.succeeded + counts.failed;
  const ratio = finished > 0 ? (counts.failed / finished) * 100 : 0;
  const trippedBefore = stored?.trippedGeneration === generation;
  const tripsNow =
    !trippedBefore && finished >= threshold.minUpdates && ratio >= threshold.percent && counts.failed > 0;
  const trippedGeneration = trippedBefore || tripsNow ? generation : null;
  const tripped = trippedGeneration !== null;

  // Steps: advance past every finished step whose pause has passed; a tripped threshold holds the
  // next step (the failures it judges are of the steps so far).
  let step = Math.min(stored?.currentStep ?? 0, steps.length - 1);
  let stepStartedAt = stored?.stepStartedAt ?? now;
  let stepCompletedAt = stored?.stepCompletedAt ?? null;
  let stepApprovedRevision = stored?.stepApprovedRevision ?? null;
  let pauseReason: string | null = null;
  let askGate: RolloutPlan['askGate'];
  for (;;) {
    const share = shares[step]!;
    if (!stepDone(share)) {
      stepCompletedAt = null;
      if (share.admitted > 0 && share.unfinished > 0) {
        waits.push({ kind: 'step-in-progress', step, unfinished: share.unfinished });
      }
      break;
    }
    if (stepCompletedAt === null) {
      stepCompletedAt = now;
      events.push({ type: 'StepCompleted', message: `step ${step + 1} of ${steps.length} completed` });
    }
    if (step === steps.length - 1 || tripped) break;
    const pause = steps[step]!.pause;
    if (pause.kind === 'duration' && now < stepCompletedAt + pause.ms) {
      pauseReason = `pause after step ${step + 1} until ${new Date(stepCompletedAt + pause.ms).toISOString()}`;
      waits.push({ kind: 'pause', step, until: stepCompletedAt + pause.ms });
      break;
    }
    if (pause.kind === 'manual') {
      const needed = approvedNeeded(rollout, epoch, step);
      if (rollout.strategy.approved < needed) {
        pauseReason = `waiting for approval of step ${step + 2}: raise spec.strategy.approved to ${needed}`;
        waits.push({ kind: 'approval', step, approvedNeeded: needed });
        break;
      }
    }
    const gate = gateDecision(rollout.gate, input.gateChecks?.get(step + 1), now);
    if (gate.kind === 'closed') {
      pauseReason = `step ${step + 2} waits for its gate: ${gate.reason}`;
      waits.push({ kind: 'gate', step, reason: gate.reason });
      if (gate.ask) askGate = { step: step + 1 };
      break;
    }
    step += 1;
    stepStartedAt = now;
    stepCompletedAt = null;
    stepApprovedRevision = pause.kind === 'manual' ? (rollout.source.revision?.commit?.sha ?? null) : null;
    events.push({
      type: 'StepStarted',
      message: `step ${step + 1} of ${steps.length} started (${steps[step]!.percent}%)`,
    });
  }
  if (observation.unreadUntil !== null && counts.unread > 0) {
    waits.push({ kind: 'unread', devices: counts.unread, until: observation.unreadUntil });
  }
  if (observation.stateUnreadUntil !== null && counts.stateUnread > 0) {
    waits.push({ kind: 'state-unread', devices: counts.stateUnread, until: observation.stateUnreadUntil });
  }

  if (tripsNow) {
    events.push({
      type: threshold.action === 'abort' ? 'RolloutAborted' : 'RolloutPaused',
      message: `failure threshold reached: ${counts.failed} of ${finished} finished updates failed (${ratio.toFixed(1)}% >= ${threshold.percent}%)${reasonsText(counts.failedByReason)}`,
    });
  }
  const thresholdReason = `failure threshold: ${counts.failed} of ${finished} failed (>= ${threshold.percent}%)${reasonsText(counts.failedByReason)}`;

  const lastStep = step === steps.length - 1;
  const allDone = lastStep && stepDone(shares[step]!) && counts.inFlight === 0;

  let phase: RolloutPhase;
  let message: string;
  let withdrawReason: string | undefined;
  let startsAllowed = true;
  if (tripped && threshold.action === 'abort') {
    phase = 'Aborted';
    message = thresholdReason;
    withdrawReason = 'rollout aborted by its failure threshold';
    startsAllowed = false;
    waits.push({ kind: 'aborted', reason: thresholdReason });
  } else if (rollout.suspend) {
    phase = 'Suspended';
    message = 'suspended: no new updates start; updates in flight finish';
    startsAllowed = false;
    waits.push({ kind: 'suspended' });
  } else if (tripped) {
    phase = 'Paused';
    message = `${thresholdReason}; change the Rollout in git to resume`;
    startsAllowed = false;
    waits.push({ kind: 'failure-threshold', reason: thresholdReason });
  } else if (pauseReason !== null) {
    phase = 'Paused';
    message = pauseReason;
  } else if (counts.selected === 0 && counts.unread === 0) {
    phase = 'NoDevices';
    message = `selector matches no registered device${counts.unreadSkipped > 0 ? ` whose object 3 could be read (${counts.unreadSkipped} registered devices never answered)` : ''}`;
  } else if (allDone && counts.offline === 0 && counts.conflicted === 0) {
    const missed = missedText(counts);
    phase = missed === '' ? 'Completed' : 'Degraded';
    message = `${counts.upToDate} of ${counts.selected} devices on ${rollout.firmware.version}${missed}`;
  } else if (counts.conflicted > 0 && (allDone || counts.conflicted === counts.selected)) {
    // Contested devices are not done: the rollout stalls on them until a priority decides.
    phase = 'Conflict';
    message =
      counts.conflicted === counts.selected
        ? 'every device is also selected by a rollout of equal priority'
        : `${counts.conflicted} of ${counts.selected} devices are also selected by a rollout of equal priority; neither touches them`;
  } else {
    phase = 'Progressing';
    // Offline devices do not hold a step back, but the rollout is not complete while they wait.
    const offline = counts.offline > 0 ? `, ${counts.offline} offline` : '';
    const unread =
      counts.unread > 0 && observation.unreadUntil !== null
        ? `, ${counts.unread} not read yet (model and version unknown; the step waits for them until ${new Date(observation.unreadUntil).toISOString()})`
        : '';
    const stateUnread =
      counts.stateUnread > 0 && observation.stateUnreadUntil !== null
        ? `, ${counts.stateUnread} without a firmware State yet (not started before they report 5/0/3; waited for until ${new Date(observation.stateUnreadUntil).toISOString()})`
        : '';
    message = `step ${step + 1} of ${steps.length}: ${counts.inFlight} in flight, ${counts.upToDate} of ${counts.selected} up to date${offline}${unread}${stateUnread}`;
  }
  if (epoch.changedNow && epoch.lastTargetChange) {
    message = `${describeTargetChange(epoch.lastTargetChange)}; ${message}`;
  }
  if (counts.conflicted > 0) {
    waits.push({ kind: 'conflict', devices: counts.conflicted, examples: observation.conflictExamples });
  }
  if (counts.downgradeRefused > 0)
    waits.push({ kind: 'downgrade-refused', devices: counts.downgradeRefused });

  let start: RolloutPlan['start'];
  if (startsAllowed) {
    const inFlightRoom = rollout.strategy.maxInFlight - counts.inFlight;
    const rateRoom = rollout.strategy.maxPerMinute - observation.startsLastMinute;
    if (inFlightRoom <= 0) waits.push({ kind: 'in-flight-limit', maxInFlight: rollout.strategy.maxInFlight });
    if (rateRoom <= 0) waits.push({ kind: 'rate-limit', maxPerMinute: rollout.strategy.maxPerMinute });
    const limit = Math.max(0, Math.min(inFlightRoom, rateRoom));
    // Waiting devices within the share, or retries of started ones (those are unfinished).
    const canStart = shares[step]!.reserved > 0 || observation.share.startedUnfinished > 0;
    if (limit > 0 && canStart) start = { room: shares[step]!.room, limit };
  }
  if (!executeAllowed && counts.downloaded > 0) {
    waits.push({ kind: 'window', opensAt: input.window.kind === 'closed' ? input.window.opensAt : null });
  }

  if (stored && stored.phase !== phase) {
    events.push({ type: 'RolloutPhaseChanged', message: `${stored.phase} -> ${phase}: ${message}` });
    // The outcomes people are told about (Notifications) get events of their own.
    if (phase === 'Completed') events.push({ type: 'RolloutCompleted', message });
    if (phase === 'Degraded') events.push({ type: 'RolloutDegraded', message });
  }
  const approval = waits.find((w) => w.kind === 'approval');
  if (approval && phase === 'Paused' && !(stored?.phase === 'Paused' && stored.pausedReason === message)) {
    events.push({ type: 'ApprovalNeeded', message });
  }

  const status: RolloutStatus = {
    generation,
    phase,
    currentStep: step,
    stepStartedAt,
    stepCompletedAt,
    pausedReason: phase === 'Paused' || phase === 'Aborted' ? message : null,
    trippedGeneration,
    conditions: conditionsFor(phase, message, input.stored?.conditions ?? [], now, tripped),
    counts,
    steps: shares.map((s) => ({ admitted: s.admitted, unfinished: s.unfinished })),
    message,
    target: epoch.target,
    sinceUpdateId: epoch.sinceUpdateId,
    approvedBaseline: epoch.approvedBaseline,
    lastTargetChange: epoch.lastTargetChange,
    stepApprovedRevision,
  };
  // A suspended, aborted or tripped rollout starts no step: nothing to ask.
  return {
    status,
    start,
    withdrawReason,
    executeAllowed,
    waits,
    events,
    askGate: startsAllowed ? askGate : undefined,
  };
}

/** How many manual pauses lie in steps 0..step. */
export function manualPausesThrough(rollout: ResolvedRollout, step: number): number {
  return rollout.strategy.steps.slice(0, step + 1).filter((s) => s.pause.kind === 'manual').length;
}

/** The `approved` value that lets the step after `step` start: the target's baseline plus its manual pauses so far. */
export function approvedNeeded(
  rollout: ResolvedRollout,
  epoch: Pick<TargetEpoch, 'approvedBaseline'>,
  step: number,
): number {
  return epoch.approvedBaseline + manualPausesThrough(rollout, step);
}

/** What keeps a finished rollout from being complete: devices that will not reach the target by it. */
function missedText(counts: RolloutCounts): string {
  const parts: string[] = [];
  if (counts.failed > 0) parts.push(`${counts.failed} failed${reasonsText(counts.failedByReason)}`);
  if (counts.downgradeRefused > 0) parts.push(`${counts.downgradeRefused} refused as a downgrade`);
  if (counts.unreadSkipped > 0) parts.push(`${counts.unreadSkipped} never read (model and version unknown)`);
  if (counts.stateUnreadSkipped > 0)
    parts.push(`${counts.stateUnreadSkipped} never reported a firmware State (5/0/3)`);
  return parts.length === 0 ? '' : `; ${parts.join(', ')}`;
}

function reasonsText(byReason: Readonly<Record<string, number>>): string {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return '';
  return ` (${entries.map(([reason, n]) => `${n} × ${reason}`).join(', ')})`;
}
