import type { ResolvedRollout } from '../../manifests/index.js';

/**
 * A target change is a new rollout of the same name: when the firmware a Rollout installs changes
 * (by name or by version, forward, back, or by a git revert), its strategy starts again at step 1,
 * only updates of the new target count for it, and every manual pause needs a fresh approval:
 * `approved` is recorded when the target changes (the baseline) and a pause needs it raised above
 * the baseline by the number of manual pauses up to it.
 */
export interface RolloutTarget {
  readonly firmware: string;
  readonly version: string;
}

export interface TargetChange {
  readonly from: RolloutTarget;
  readonly to: RolloutTarget;
  /** The git commit that changed it, when the manifests are in git. */
  readonly revision: string | null;
  /** Epoch ms. */
  readonly at: number;
}

/** What the stored strategy state says about its target (the `rollouts` row, migration 0007). */
export interface StoredTarget {
  /** Null for a row written before targets were recorded: its state is taken to be the current target's. */
  readonly target: RolloutTarget | null;
  readonly sinceUpdateId: number;
  readonly approvedBaseline: number;
  readonly lastTargetChange: TargetChange | null;
}

/** The target this pass plans for, and where its strategy state begins. */
export interface TargetEpoch extends StoredTarget {
  readonly target: RolloutTarget;
  /** The target changed in this pass: the stored step, pause and approvals are the old target's. */
  readonly changedNow: boolean;
}

export function targetOf(rollout: ResolvedRollout): RolloutTarget {
  return { firmware: rollout.firmware.name, version: rollout.firmware.version };
}

export function sameTarget(a: RolloutTarget, b: RolloutTarget): boolean {
  return a.firmware === b.firmware && a.version === b.version;
}

export function describeTarget(target: RolloutTarget): string {
  return `${target.firmware}@${target.version}`;
}

/** "target changed from X to Y at revision R; strategy restarted": the status and the event say it. */
export function describeTargetChange(change: TargetChange): string {
  const revision = change.revision === null ? 'an uncommitted revision' : `revision ${change.revision}`;
  return `target changed from ${describeTarget(change.from)} to ${describeTarget(change.to)} at ${revision}; strategy restarted`;
}

/**
 * The epoch a pass plans in, given what is stored and the highest update id now (read only when
 * the target changed). Pure: read/decide-rollout.ts reads that id.
 */
export function nextTargetEpoch(
  stored: StoredTarget | undefined,
  rollout: ResolvedRollout,
  now: number,
  highestUpdateId: () => number,
): TargetEpoch {
  const target = targetOf(rollout);
  if (stored === undefined) {
    return { target, sinceUpdateId: 0, approvedBaseline: 0, lastTargetChange: null, changedNow: false };
  }
  if (stored.target === null || sameTarget(stored.target, target)) {
    return { ...stored, target, changedNow: false };
  }
  return {
    target,
    sinceUpdateId: highestUpdateId(),
    approvedBaseline: rollout.strategy.approved,
    lastTargetChange: {
      from: stored.target,
      to: target,
      // A change seen before it was committed is not that commit's: say so rather than name the last one.
      revision: rollout.source.revision?.dirty ? null : (rollout.source.revision?.commit?.sha ?? null),
      at: now,
    },
    changedNow: true,
  };
}
