import type { DesiredState, ResolvedRollout } from '../manifests/index.js';
import type { UpdateWait } from './actions.js';
import { type ExecutorDeps, runUpdateActions, startUpdates } from './executor.js';
import { loadActiveUpdates, loadCandidates, loadRolloutObservation } from './load-observation.js';
import { windowState } from './maintenance-window.js';
import { planRollout, type RolloutPlan } from './plan-rollout.js';
import { planUpdate, type UpdateIntent } from './plan-update.js';
import { rolloutGeneration } from './rollout-generation.js';
import { loadStoredStatuses, markRemoved, saveStatus } from './rollout-rows.js';
import { appendRolloutEvent } from './update-store.js';
import type { UpdateWorkQueue } from './update-work-queue.js';

export interface PassOptions {
  /** Read a followed resource directly when it has not changed for this long. */
  readonly pollQuietMs: number;
  /** Device requests in flight at once during a pass. */
  readonly concurrency: number;
  /**
   * Where the pass hands device requests; without one the pass waits for them (bench, tools).
   * The controller's loop passes its queue so a silent device does not slow every pass.
   */
  readonly work?: UpdateWorkQueue;
}

export interface PassResult {
  readonly started: number;
  readonly actions: number;
  readonly plans: ReadonlyMap<string, RolloutPlan>;
  readonly waits: Readonly<Record<UpdateWait, number>>;
}

/**
 * One level-triggered pass: re-read everything, decide, act. Nothing from an earlier pass is
 * trusted; a pass after a crash decides exactly what the lost one would have.
 */
export async function reconcilePass(
  deps: ExecutorDeps,
  desired: DesiredState | undefined,
  options: PassOptions,
): Promise<PassResult> {
  const now = deps.clock();
  const stored = await loadStoredStatuses(deps.db);
  const rollouts = desired ? [...desired.rollouts.values()].sort((a, b) => a.name.localeCompare(b.name)) : [];
  if (desired) await markRemoved(deps.db, new Set(desired.rollouts.keys()), stored, now);

  const plans = new Map<string, RolloutPlan>();
  const intents = new Map<string, UpdateIntent>();
  let started = 0;
  for (const rollout of rollouts) {
    const plan = await reconcileRollout(deps, rollout, rollouts, stored.get(rollout.name), now);
    plans.set(rollout.name, plan);
    intents.set(rollout.name, {
      targetVersion: rollout.firmware.version,
      executeAllowed: plan.executeAllowed,
      ...(plan.withdrawReason ? { withdrawReason: plan.withdrawReason } : {}),
    });
    if (plan.start) {
      const others = rollouts.filter((o) => o.name !== rollout.name);
      const candidates = await loadCandidates(
        deps.db,
        rollout,
        others,
        now,
        plan.start.maxRank,
        plan.start.limit,
      );
      started += await startUpdates(deps, rollout, candidates);
    }
  }

  const waits: Record<UpdateWait, number> = {
    'device-offline': 0,
    downloading: 0,
    'outside-window': 0,
    updating: 0,
    'waiting-for-device': 0,
  };
  // Without a valid desired state (at start, before the manifests were read) nothing is known
  // about what the updates in flight are for: wait rather than act on a guess.
  if (!desired) return { started, actions: 0, plans, waits };
  const active = await loadActiveUpdates(deps.db);
  const work: (() => Promise<void>)[] = [];
  let submitted = 0;
  for (const update of active) {
    if (options.work?.isBusy(update.id)) continue;
    const decision = planUpdate(update, {
      intent: intents.get(update.rollout),
      now,
      pollQuietMs: options.pollQuietMs,
    });
    if (decision.wait) waits[decision.wait]++;
    if (decision.actions.length === 0) continue;
    const task = () => runUpdateActions(deps, decision.actions);
    if (options.work) {
      if (options.work.submit(update.id, task)) submitted++;
    } else {
      work.push(task);
    }
  }
  await runWithConcurrency(work, options.concurrency);
  return { started, actions: work.length + submitted, plans, waits };
}

async function reconcileRollout(
  deps: ExecutorDeps,
  rollout: ResolvedRollout,
  all: readonly ResolvedRollout[],
  stored: Parameters<typeof planRollout>[0]['stored'],
  now: number,
): Promise<RolloutPlan> {
  const others = all.filter((o) => o.name !== rollout.name);
  const observation = await loadRolloutObservation(deps.db, rollout, others, now);
  const plan = planRollout({
    rollout,
    generation: rolloutGeneration(rollout),
    stored,
    observation,
    window: windowState(rollout.window, now),
    now,
  });
  await saveStatus(deps.db, rollout, plan.status, now);
  const revision = rollout.source.revision?.commit?.sha ?? null;
  for (const event of plan.events) await appendRolloutEvent(deps.db, rollout.name, revision, event);
  return plan;
}

async function runWithConcurrency(tasks: readonly (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (error) {
        errors.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (errors.length > 0) throw errors[0];
}
