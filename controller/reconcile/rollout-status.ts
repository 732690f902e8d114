import type { RolloutCounts, StepProgress } from './observation.js';

export const ROLLOUT_PHASES = [
  'Progressing',
  'Paused',
  'Completed',
  'Aborted',
  'Suspended',
  'Conflict',
  'Invalid',
  'Removed',
] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];

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
export interface StoredRolloutStatus {
  readonly generation: string;
  readonly phase: RolloutPhase;
  readonly currentStep: number;
  readonly stepStartedAt: number | null;
  readonly stepCompletedAt: number | null;
  readonly pausedReason: string | null;
  readonly trippedGeneration: string | null;
  readonly conditions: readonly Condition[];
}

export interface RolloutStatus extends StoredRolloutStatus {
  readonly counts: RolloutCounts;
  readonly steps: readonly StepProgress[];
  /** One line on what the rollout does or waits for. */
  readonly message: string;
}

/**
 * Conditions that never contradict: exactly one of Ready / Reconciling / Stalled is True.
 * A condition's transition time moves only when its status changes.
 */
export function conditionsFor(
  phase: RolloutPhase,
  message: string,
  previous: readonly Condition[],
  now: number,
): Condition[] {
  const stalled = phase === 'Aborted' || phase === 'Conflict' || phase === 'Invalid';
  const ready = phase === 'Completed';
  const wanted: Record<ConditionType, boolean> = {
    Ready: ready,
    Reconciling: !ready && !stalled,
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
