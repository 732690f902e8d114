import type { RolloutPhase } from '../../store/rollout-phase.js';
import type { RolloutCounts, StepProgress } from './rollout-counts.js';
import type { RolloutTarget, StoredTarget } from './rollout-target.js';

export { ROLLOUT_PHASES, type RolloutPhase } from '../../store/rollout-phase.js';

export const CONDITION_TYPES = ['Ready', 'Reconciling', 'Stalled'] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export interface Condition {
  readonly type: ConditionType;
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
  readonly lastTransitionTime: string;
}

/** The part of a rollout's status that carries over from pass to pass (the `rollouts` row). */
export interface StoredRolloutStatus extends StoredTarget {
  readonly generation: string;
  readonly phase: RolloutPhase;
  readonly currentStep: number;
  readonly stepStartedAt: number | null;
  readonly stepCompletedAt: number | null;
  readonly pausedReason: string | null;
  readonly trippedGeneration: string | null;
  readonly conditions: readonly Condition[];
  /**
   * The commit in effect when the current step started after a manual pause (it raised
   * `approved`, or came after the commit that did); null when the step waited for no approval or
   * the manifests are not in git. Updates started in the step keep it (`approved_revision`).
   */
  readonly stepApprovedRevision: string | null;
}

export interface RolloutStatus extends StoredRolloutStatus {
  readonly target: RolloutTarget;
  readonly counts: RolloutCounts;
  readonly steps: readonly StepProgress[];
  /** One line on what the rollout does or waits for. */
  readonly message: string;
}

/**
 * Phases that need someone to act before the rollout can get anywhere (a commit, a device fixed, a
 * selector corrected): their `Stalled` condition is True, and `otactl status` exits non-zero.
 * A rollout paused by its failure threshold is stalled too (see `conditionsFor`).
 */
const STALLED_PHASES: ReadonlySet<RolloutPhase> = new Set(['Aborted', 'Conflict', 'Degraded', 'NoDevices']);

/**
 * Conditions that never contradict: exactly one of Ready / Reconciling / Stalled is True (Ready
 * only for a clean `Completed`), none for a `Removed` rollout. A condition's transition time moves only when its status changes.
 * `thresholdTripped`: a `Paused` rollout that waits for a commit after failures is stalled, not
 * reconciling.
 */
export function conditionsFor(
  phase: RolloutPhase,
  message: string,
  previous: readonly Condition[],
  now: number,
  thresholdTripped = false,
): Condition[] {
  const stalled = STALLED_PHASES.has(phase) || (phase === 'Paused' && thresholdTripped);
  const ready = phase === 'Completed';
  const wanted: Record<ConditionType, boolean> = {
    Ready: ready,
    Reconciling: !ready && !stalled && phase !== 'Removed',
    Stalled: stalled,
  };
  return CONDITION_TYPES.map((type) => {
    const status = wanted[type] ? 'True' : 'False';
    const before = previous.find((c) => c.type === type);
    const lastTransitionTime =
      before && before.status === status ? before.lastTransitionTime : new Date(now).toISOString();
    return { type, status, reason: phase, message: wanted[type] ? message : '', lastTransitionTime };
  });
}

/**
 * Whether stored conditions (read leniently, as JSON) say Stalled: the rollout needs someone to
 * act. The API's `needsAttention`, the metric `rollout_needs_attention` and the exit code of
 * `otactl status` all come from this.
 */
export function needsAttention(conditions: unknown): boolean {
  if (!Array.isArray(conditions)) return false;
  return conditions.some((c: unknown) => {
    if (typeof c !== 'object' || c === null) return false;
    const { type, status } = c as { type?: unknown; status?: unknown };
    return type === 'Stalled' && status === 'True';
  });
}
