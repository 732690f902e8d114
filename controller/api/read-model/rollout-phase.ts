/** The phases the reconciler writes to `rollouts.phase`. */
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
