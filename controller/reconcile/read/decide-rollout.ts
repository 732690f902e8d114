import { type Kysely, sql } from 'kysely';
import type { DesiredState, ResolvedRollout } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import { windowState } from '../plan/maintenance-window.js';
import { type Candidate, candidatesWithin, type RolloutRead } from '../plan/observation.js';
import { planRollout, type RolloutPlan } from '../plan/plan-rollout.js';
import type { StoredRolloutStatus } from '../plan/rollout-status.js';
import { nextTargetEpoch, type StoredTarget, type TargetEpoch } from '../plan/rollout-target.js';
import { loadGateChecks } from './gate-checks.js';
import { loadCandidates, readRollout } from './load-observation.js';
import { rolloutGeneration } from './rollout-generation.js';

/** One rollout of the desired state, with the others it competes with for devices. */
export interface RolloutInOrder {
  readonly rollout: ResolvedRollout;
  readonly others: readonly ResolvedRollout[];
}

/** The rollouts in the order a pass and `otactl plan` go through them: by name. */
export function rolloutsInOrder(desired: DesiredState | undefined): RolloutInOrder[] {
  const rollouts = desired ? [...desired.rollouts.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];
  return rollouts.map((rollout) => ({ rollout, others: rollouts.filter((o) => o.name !== rollout.name) }));
}

export interface RolloutDecision {
  readonly plan: RolloutPlan;
  readonly read: RolloutRead;
  readonly epoch: TargetEpoch;
  /** The devices the plan starts now, in canary order: from the read when it holds them, else read again. */
  startsNow(): Promise<Candidate[]>;
}

/**
 * What a pass decides for one rollout, read-only: the target it plans for (a changed target
 * restarts the strategy), the read of its group for that target, the plan, and the devices it
 * starts. A pass and `otactl plan` both go through here, so the plan shown is the plan acted on.
 */
export async function decideRollout(
  db: Kysely<Database>,
  { rollout, others }: RolloutInOrder,
  stored: StoredRolloutStatus | undefined,
  now: number,
): Promise<RolloutDecision> {
  const epoch = await resolveTargetEpoch(db, stored, rollout, now);
  const read = await readRollout(db, rollout, others, now, {
    candidates: true,
    sinceUpdateId: epoch.sinceUpdateId,
  });
  const plan = planRollout({
    rollout,
    generation: rolloutGeneration(rollout),
    stored,
    epoch,
    observation: read.observation,
    window: windowState(rollout.window, now),
    gateChecks: await loadGateChecks(db, rollout, epoch.sinceUpdateId),
    now,
  });
  const startsNow = async (): Promise<Candidate[]> => {
    if (!plan.start) return [];
    const { room, limit } = plan.start;
    return (
      candidatesWithin(read, room, limit) ??
      (await loadCandidates(db, rollout, others, now, room, limit, { sinceUpdateId: epoch.sinceUpdateId }))
    );
  };
  return { plan, read, epoch, startsNow };
}

/** `nextTargetEpoch`, reading the highest update id from the database when the target changed. */
async function resolveTargetEpoch(
  db: Kysely<Database>,
  stored: StoredTarget | undefined,
  rollout: ResolvedRollout,
  now: number,
): Promise<TargetEpoch> {
  const unchanged = nextTargetEpoch(stored, rollout, now, () => -1);
  if (!unchanged.changedNow) return unchanged;
  const result = await sql<{
    id: string | number | null;
  }>`select max(id) as id from firmware_updates`.execute(db);
  const highest = Number(result.rows[0]?.id ?? 0);
  return { ...unchanged, sinceUpdateId: highest };
}
