import type { Kysely } from 'kysely';
import type { ResolvedRollout } from '../../manifests/index.js';
import type { Database } from '../../store/index.js';
import { parseStoredCounts, storedCountsJson } from '../plan/rollout-counts.js';
import {
  type Condition,
  conditionsFor,
  type RolloutStatus,
  type StoredRolloutStatus,
} from '../plan/rollout-status.js';
import type { TargetChange } from '../plan/rollout-target.js';
import { appendRolloutEvent } from './update-store.js';

/** The spec as stored and served by the API: what the rollout asks for, flat. */
export function storedSpec(rollout: ResolvedRollout): Record<string, unknown> {
  return {
    group: rollout.group.name,
    selector: rollout.group.selector,
    firmware: rollout.firmware.name,
    targetVersion: rollout.firmware.version,
    file: rollout.firmware.file,
    suspend: rollout.suspend,
    priority: rollout.priority,
    allowDowngrade: rollout.allowDowngrade,
    steps: rollout.strategy.steps,
    approved: rollout.strategy.approved,
    maxInFlight: rollout.strategy.maxInFlight,
    maxPerMinute: rollout.strategy.maxPerMinute,
    failureThreshold: rollout.strategy.failureThreshold,
    timeouts: rollout.timeouts,
    retries: rollout.retries,
    window: rollout.window ?? null,
    source: {
      file: rollout.source.file,
      line: rollout.source.line,
      commit: rollout.source.revision?.commit ?? null,
      dirty: rollout.source.revision?.dirty ?? false,
    },
  };
}

export async function loadStoredStatuses(
  db: Kysely<Database>,
): Promise<Map<string, StoredRolloutStatus & { removed: boolean }>> {
  const rows = await db.selectFrom('rollouts').selectAll().execute();
  return new Map(
    rows.map((r) => [
      r.name,
      {
        generation: r.generation,
        phase: r.phase,
        currentStep: r.current_step,
        stepStartedAt: r.step_started_at?.getTime() ?? null,
        stepCompletedAt: r.step_completed_at?.getTime() ?? null,
        pausedReason: r.paused_reason,
        trippedGeneration: r.tripped_generation,
        conditions: (r.conditions ?? []) as Condition[],
        target:
          r.target_firmware !== null && r.target_version !== null
            ? { firmware: r.target_firmware, version: r.target_version }
            : null,
        sinceUpdateId: Number(r.target_since_update_id),
        approvedBaseline: r.approved_baseline,
        lastTargetChange: (r.target_change ?? null) as TargetChange | null,
        stepApprovedRevision: r.step_approved_revision,
        removed: r.removed_at !== null,
      },
    ]),
  );
}

/** Writes a rollout's status once per pass (insert on first sight). */
export async function saveStatus(
  db: Kysely<Database>,
  rollout: ResolvedRollout,
  status: RolloutStatus,
  now: number,
): Promise<void> {
  const values = {
    spec: JSON.stringify(storedSpec(rollout)),
    generation: status.generation,
    observed_generation: status.generation,
    git_revision: rollout.source.revision?.commit?.sha ?? null,
    phase: status.phase,
    current_step: status.currentStep,
    step_started_at: status.stepStartedAt === null ? null : new Date(status.stepStartedAt),
    step_completed_at: status.stepCompletedAt === null ? null : new Date(status.stepCompletedAt),
    paused_reason: status.pausedReason,
    tripped_generation: status.trippedGeneration,
    counts: storedCountsJson(status),
    conditions: JSON.stringify(status.conditions),
    updated_at: new Date(now),
    removed_at: null,
    target_firmware: status.target.firmware,
    target_version: status.target.version,
    target_since_update_id: status.sinceUpdateId,
    approved_baseline: status.approvedBaseline,
    target_change: status.lastTargetChange === null ? null : JSON.stringify(status.lastTargetChange),
    step_approved_revision: status.stepApprovedRevision,
  };
  await db
    .insertInto('rollouts')
    .values({ name: rollout.name, ...values })
    .onConflict((oc) => oc.column('name').doUpdateSet(values))
    .execute();
}

/**
 * Rollouts that left git: no new starts, history kept, phase Removed (returns their names). What the status said about
 * devices it no longer decides for (a conflict, a wait) is cleared: the rollouts still in git
 * report their own conflicts from the next pass on.
 */
export async function markRemoved(
  db: Kysely<Database>,
  present: ReadonlySet<string>,
  stored: ReadonlyMap<string, { removed: boolean; conditions: readonly Condition[] }>,
  now: number,
): Promise<string[]> {
  const removed: string[] = [];
  for (const [name, row] of stored) {
    if (present.has(name) || row.removed) continue;
    removed.push(name);
    const message = 'removed from the manifests: no new updates start; updates in flight finish';
    const last = await db.selectFrom('rollouts').select('counts').where('name', '=', name).executeTakeFirst();
    const counts = parseStoredCounts(last?.counts);
    await db
      .updateTable('rollouts')
      .set({
        phase: 'Removed',
        removed_at: new Date(now),
        updated_at: new Date(now),
        paused_reason: null,
        conditions: JSON.stringify(conditionsFor('Removed', message, row.conditions, now)),
        counts: storedCountsJson({ ...counts, counts: { ...counts.counts, conflicted: 0 }, message }),
      })
      .where('name', '=', name)
      .execute();
    await appendRolloutEvent(db, name, null, {
      type: 'RolloutRemoved',
      message: 'the Rollout was removed from the manifests: no new updates start; updates in flight finish',
    });
  }
  return removed;
}
