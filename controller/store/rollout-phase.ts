/** The phases of a rollout's status (the `rollouts.phase` column), as controller/reconcile/plan/plan-rollout.ts sets them. */
export const ROLLOUT_PHASES = [
  'Progressing',
  'Paused',
  'Completed',
  /** Finished, but some devices never reached the target (failed, refused as a downgrade, never read). */
  'Degraded',
  /** The group has no registered device: nothing to do, and nothing done. */
  'NoDevices',
  'Aborted',
  'Suspended',
  'Conflict',
  /** Gone from the manifests (controller/reconcile/write/rollout-rows.ts). */
  'Removed',
] as const;
export type RolloutPhase = (typeof ROLLOUT_PHASES)[number];
