import type { ResolvedRollout } from '../manifests/index.js';
import type { WindowState } from './maintenance-window.js';
import type { RolloutObservation } from './observation.js';
import {
  conditionsFor,
  type RolloutPhase,
  type RolloutStatus,
  type StoredRolloutStatus,
} from './rollout-status.js';

/** Why a rollout starts fewer updates than its group needs right now (for `otactl plan`). */
export type RolloutWait =
  | { readonly kind: 'suspended' }
  | { readonly kind: 'aborted'; readonly reason: string }
  | { readonly kind: 'failure-threshold'; readonly reason: string }
  | { readonly kind: 'pause'; readonly step: number; readonly until: number }
  | { readonly kind: 'approval'; readonly step: number; readonly approvedNeeded: number }
  | { readonly kind: 'step-in-progress'; readonly step: number; readonly unfinished: number }
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
  readonly observation: RolloutObservation;
  readonly window: WindowState;
  readonly now: number;
}

export interface RolloutEvent {
  readonly type: string;
  readonly message: string;
}

export interface RolloutPlan {
  readonly status: RolloutStatus;
  /** Start updates for eligible devices ranked within `maxRank`, at most `limit` of them. */
  readonly start: { readonly maxRank: number; readonly limit: number } | undefined;
  /** Not-yet-executed updates of this rollout are to be withdrawn (aborted rollout). */
  readonly withdrawReason: string | undefined;
  readonly executeAllowed: boolean;
  readonly waits: readonly RolloutWait[];
  readonly events: readonly RolloutEvent[];
}

/** Decides a rollout's step, phase and how many updates may start now. Pure. */
export function planRollout(input: RolloutPlanInput): RolloutPlan {
  const { rollout, generation, stored, observation, now } = input;
  const { counts } = observation;
  const steps = rollout.strategy.steps;
  const events: RolloutEvent[] = [];
  const waits: RolloutWait[] = [];

  // Steps: advance past every finished step whose pause has passed.
  let step = Math.min(stored?.currentStep ?? 0, steps.length - 1);
  let stepStartedAt = stored?.stepStartedAt ?? now;
  let stepCompletedAt = stored?.stepCompletedAt ?? null;
  let pauseReason: string | null = null;
  for (;;) {
    const progress = observation.steps[step];
    // A step that admits no device yet (the group is still empty) has not happened: its pause
    // must not start, or a canary would be skipped while devices are still registering.
    const done = progress !== undefined && progress.admitted > 0 && progress.unfinished === 0;
    if (!done) {
      stepCompletedAt = null;
      if (progress && progress.admitted > 0) {
        waits.push({ kind: 'step-in-progress', step, unfinished: progress.unfinished });
      }
      break;
    }
    if (stepCompletedAt === null) {
      stepCompletedAt = now;
      events.push({ type: 'StepCompleted', message: `step ${step + 1} of ${steps.length} completed` });
    }
    if (step === steps.length - 1) break;
    const pause = steps[step]!.pause;
    if (pause.kind === 'duration' && now < stepCompletedAt + pause.ms) {
      pauseReason = `pause after step ${step + 1} until ${new Date(stepCompletedAt + pause.ms).toISOString()}`;
      waits.push({ kind: 'pause', step, until: stepCompletedAt + pause.ms });
      break;
    }
    if (pause.kind === 'manual') {
      const needed = manualPausesThrough(rollout, step);
      if (rollout.strategy.approved < needed) {
        pauseReason = `waiting for approval of step ${step + 2}: raise spec.strategy.approved to ${needed}`;
        waits.push({ kind: 'approval', step, approvedNeeded: needed });
        break;
      }
    }
    step += 1;
    stepStartedAt = now;
    stepCompletedAt = null;
    events.push({
      type: 'StepStarted',
      message: `step ${step + 1} of ${steps.length} started (${steps[step]!.percent}%)`,
    });
  }

  // Failure threshold: sticky within one generation of the spec; a commit that changes the spec lifts it.
  const threshold = rollout.strategy.failureThreshold;
  const finished = counts.succeeded + counts.failed;
  let trippedGeneration = stored?.trippedGeneration === generation ? generation : null;
  const ratio = finished > 0 ? (counts.failed / finished) * 100 : 0;
  if (
    trippedGeneration === null &&
    finished >= threshold.minUpdates &&
    ratio >= threshold.percent &&
    counts.failed > 0
  ) {
    trippedGeneration = generation;
    events.push({
      type: threshold.action === 'abort' ? 'RolloutAborted' : 'RolloutPaused',
      message: `failure threshold reached: ${counts.failed} of ${finished} finished updates failed (${ratio.toFixed(1)}% >= ${threshold.percent}%)${reasonsText(counts.failedByReason)}`,
    });
  }
  const tripped = trippedGeneration !== null;
  const thresholdReason = `failure threshold: ${counts.failed} of ${finished} failed (>= ${threshold.percent}%)${reasonsText(counts.failedByReason)}`;

  const lastStep = step === steps.length - 1;
  const allDone = lastStep && (observation.steps[step]?.unfinished ?? 0) === 0 && counts.inFlight === 0;

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
  } else if (allDone && counts.offline === 0 && counts.conflicted === 0) {
    phase = 'Completed';
    message = `${counts.upToDate} of ${counts.selected} devices on ${rollout.firmware.version}`;
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
    message = `step ${step + 1} of ${steps.length}: ${counts.inFlight} in flight, ${counts.upToDate} of ${counts.selected} up to date${offline}`;
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
    const maxRank = observation.steps[step]?.admitted ?? 0;
    if (limit > 0 && maxRank > 0) start = { maxRank, limit };
  }
  const executeAllowed = input.window.kind !== 'closed';
  if (input.window.kind === 'closed' && counts.downloaded > 0) {
    waits.push({ kind: 'window', opensAt: input.window.opensAt });
  }

  if (stored && stored.phase !== phase) {
    events.push({ type: 'RolloutPhaseChanged', message: `${stored.phase} -> ${phase}: ${message}` });
  }

  const status: RolloutStatus = {
    generation,
    phase,
    currentStep: step,
    stepStartedAt,
    stepCompletedAt,
    pausedReason: phase === 'Paused' || phase === 'Aborted' ? message : null,
    trippedGeneration,
    conditions: conditionsFor(phase, message, stored?.conditions ?? [], now),
    counts,
    steps: observation.steps,
    message,
  };
  return { status, start, withdrawReason, executeAllowed, waits, events };
}

/** How many manual pauses lie in steps 0..step: the `approved` value that lets the next step start. */
export function manualPausesThrough(rollout: ResolvedRollout, step: number): number {
  return rollout.strategy.steps.slice(0, step + 1).filter((s) => s.pause.kind === 'manual').length;
}

/** How many devices a step's cumulative share admits out of the group's current members. */
export function admittedBy(percent: number, members: number): number {
  return Math.ceil((percent * members) / 100);
}

function reasonsText(byReason: Readonly<Record<string, number>>): string {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return '';
  return ` (${entries.map(([reason, n]) => `${n}x ${reason}`).join(', ')})`;
}
