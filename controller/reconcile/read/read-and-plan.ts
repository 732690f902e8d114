import type { Kysely } from 'kysely';
import type { ResolvedRollout } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import { windowState } from '../plan/maintenance-window.js';
import { type Candidate, candidatesWithin, type RolloutRead } from '../plan/observation.js';
import { planRollout, type RolloutPlan } from '../plan/plan-rollout.js';
import type { StoredRolloutStatus } from '../plan/rollout-status.js';
import { resolveTargetEpoch, type TargetEpoch } from '../plan/rollout-target.js';
import { loadCandidates, readRollout } from './load-observation.js';
import { rolloutGeneration } from './rollout-generation.js';

export interface ReadAndPlan {
  readonly plan: RolloutPlan;
  readonly read: RolloutRead;
  readonly epoch: TargetEpoch;
}

/**
 * What a pass decides for one rollout, read-only: the target it plans for (a changed target
 * restarts the strategy), the read of its group for that target, and the plan. A pass and
 * `otactl plan` both go through here, so the plan shown is the plan acted on.
 */
export async function readAndPlan(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  stored: StoredRolloutStatus | undefined,
  now: number,
  options: { readonly candidates: boolean } = { candidates: true },
): Promise<ReadAndPlan> {
  const epoch = await resolveTargetEpoch(db, stored, rollout, now);
  const read = await readRollout(db, rollout, others, now, {
    candidates: options.candidates,
    sinceUpdateId: epoch.sinceUpdateId,
  });
  const plan = planRollout({
    rollout,
    generation: rolloutGeneration(rollout),
    stored,
    epoch,
    observation: read.observation,
    window: windowState(rollout.window, now),
    now,
  });
  return { plan, read, epoch };
}

/** The devices a plan starts now, from the read when it holds them, else read again. */
export async function candidatesToStart(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  others: readonly ResolvedRollout[],
  { plan, read, epoch }: ReadAndPlan,
  now: number,
): Promise<Candidate[]> {
  if (!plan.start) return [];
  const { room, limit } = plan.start;
  return (
    candidatesWithin(read, room, limit) ??
    (await loadCandidates(db, rollout, others, now, room, limit, { sinceUpdateId: epoch.sinceUpdateId }))
  );
}
