import type { DesiredState, ResolvedRollout } from '../../manifests/index.js';
import type { RolloutPlan } from '../plan/plan-rollout.js';
import type { UpdateIntent } from '../plan/plan-update.js';
import { decideRollout, type RolloutDecision, rolloutsInOrder } from '../read/decide-rollout.js';
import { type ActiveScope, ALL_ACTIVE } from '../read/load-active-updates.js';
import { announceStarted, type ExecutorDeps, startUpdates } from '../write/executor.js';
import { type Leadership, type PlannerRole, plannerWrite, SOLE_PLANNER } from '../write/planner-writes.js';
import { loadStoredStatuses, markRemoved, saveStatus } from '../write/rollout-rows.js';
import { appendRolloutEvent } from '../write/update-store.js';
import type { GateAsker } from './gate-asker.js';
import { logRolloutEvents } from './rollout-log.js';
import {
  defaultFailures,
  noWaits,
  reconcileUpdates,
  sameIntents,
  type UpdatePassOptions,
  type UpdatePassResult,
} from './update-pass.js';

export interface PassOptions extends UpdatePassOptions {
  /**
   * The intents the updates outside a narrowed `scope` were last planned with; when this pass's
   * differ (a rollout aborted, a window closed, a target changed) it looks at every active update.
   */
  readonly plannedWith?: ReadonlyMap<string, UpdateIntent>;
  /**
   * Whether this replica plans the rollouts (writes their status, events and starts) or only reads
   * them to drive its updates; default: the sole planner, unfenced.
   */
  readonly leadership?: Leadership;
  /** Where the planner's questions to rollouts' gates go (asked off the pass); none: never asked. */
  readonly gates?: Pick<GateAsker, 'ask'>;
}

export interface PassResult extends UpdatePassResult {
  readonly started: number;
  /** Every rollout's plan; empty when the pass only looked at active updates (see Reconciler). */
  readonly plans: ReadonlyMap<string, RolloutPlan>;
  /** What each rollout's updates were planned against. */
  readonly intents: ReadonlyMap<string, UpdateIntent>;
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
  const leadership = options.leadership ?? SOLE_PLANNER;
  let role = leadership.role();
  /** A planner write; once the database refuses the fence, the rest of the pass only reads. */
  const write = async <T>(effect: (db: ExecutorDeps['db']) => Promise<T>): Promise<T | undefined> => {
    if (role.kind === 'follower') return undefined;
    const result = await plannerWrite(deps.db, role, effect);
    if (result.kind === 'written') return result.value;
    if (role.kind === 'leader') leadership.lost(role.fence);
    role = FOLLOWER;
    return undefined;
  };
  const stored = await loadStoredStatuses(deps.db);
  const rollouts = rolloutsInOrder(desired);
  if (desired) {
    const present = new Set(desired.rollouts.keys());
    if ([...stored].some(([name, row]) => !present.has(name) && !row.removed)) {
      const removed = await write((db) => markRemoved(db, present, stored, now));
      for (const name of removed ?? []) {
        deps.logger?.info(
          { rollout: name },
          `rollout ${name}: removed from the manifests; updates in flight finish`,
        );
      }
    }
  }

  const failures = options.failures ?? defaultFailures(deps);
  const plans = new Map<string, RolloutPlan>();
  const intents = new Map<string, UpdateIntent>();
  let started = 0;
  for (const inOrder of rollouts) {
    const { rollout } = inOrder;
    try {
      const decided = await decideRollout(deps.db, inOrder, stored.get(rollout.name), now);
      const { plan } = decided;
      plans.set(rollout.name, plan);
      intents.set(rollout.name, {
        targetVersion: rollout.firmware.version,
        executeAllowed: plan.executeAllowed,
        verify: rollout.verify,
        ...(plan.withdrawReason ? { withdrawReason: plan.withdrawReason } : {}),
      });
      if (role.kind === 'follower') continue;
      const candidates = plan.start ? await decided.startsNow() : [];
      const rows = await write(async (db) => {
        await saveRollout(db, rollout, decided, now);
        return startUpdates(db, now, rollout, candidates, plan.status.stepApprovedRevision);
      });
      if (rows) {
        logRolloutEvents(deps.logger, rollout.name, revisionOf(rollout), plan.events);
        announceStarted(deps, rollout, rows);
        started += rows.length;
        if (plan.askGate) options.gates?.ask(rollout, plan.status, plan.askGate.step);
      }
    } catch (error) {
      // One rollout's failure is its own: the others are planned and acted on.
      await failures.report({ scope: 'rollout', rollout: rollout.name, error });
      if (!intents.has(rollout.name)) intents.set(rollout.name, intentWithoutPlan(rollout, options));
    }
  }

  // Without a valid desired state (at start, before the manifests were read) nothing is known
  // about what the updates in flight are for: wait rather than act on a guess.
  if (!desired) {
    return {
      started,
      actions: 0,
      plans,
      waits: noWaits(),
      scope: 'all',
      intents,
      followUp: [],
      rechecks: new Map(),
    };
  }
  // A narrowed scope holds only while the intents are those the other updates were planned with.
  const requested = options.scope;
  const scope: ActiveScope =
    requested?.kind === 'changed' && options.plannedWith && sameIntents(options.plannedWith, intents)
      ? {
          ...requested,
          ...(started > 0 ? { createdSince: Math.min(now, requested.createdSince ?? now) } : {}),
        }
      : ALL_ACTIVE;
  const updates = await reconcileUpdates(deps, intents, now, { ...options, scope, failures });
  return { started, plans, intents, ...updates };
}

/**
 * The intent of a rollout whose planning failed: the last one planned, else one that keeps its
 * updates from being executed (they go on downloading, and updates already executed finish).
 */
function intentWithoutPlan(rollout: ResolvedRollout, options: PassOptions): UpdateIntent {
  return (
    options.plannedWith?.get(rollout.name) ?? {
      targetVersion: rollout.firmware.version,
      executeAllowed: false,
      verify: rollout.verify,
    }
  );
}

/** A rollout's status and events as `decideRollout` planned them: what `otactl plan` shows, acted on. */
async function saveRollout(
  db: ExecutorDeps['db'],
  rollout: ResolvedRollout,
  decided: RolloutDecision,
  now: number,
): Promise<void> {
  await saveStatus(db, rollout, decided.plan.status, now);
  const revision = revisionOf(rollout);
  for (const event of decided.plan.events) await appendRolloutEvent(db, rollout.name, revision, event);
}

const revisionOf = (rollout: ResolvedRollout): string | null => rollout.source.revision?.commit?.sha ?? null;

const FOLLOWER: PlannerRole = { kind: 'follower' };
