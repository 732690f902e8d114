/**
 * The reconciler: it compares the desired state (the manifests) with the fleet in the database and
 * moves updates toward it. Its files are grouped by role, so the pure part is found by its folder:
 *
 * - `plan/`   pure decisions. What a rollout may start now (`plan-rollout`), one update's next step
 *             (`plan-update`), step shares, counts, status and conditions, failure kinds. No database
 *             driver, no `node:` module, not the store barrel and nothing of the folders below (a
 *             biome rule in biome.json), so a decision is tested with plain values.
 * - `read/`   observation queries: one set-based read of a rollout's devices (`load-observation`),
 *             the active updates a pass looks at, canary order, selectors as SQL; `decide-rollout`
 *             reads one rollout and plans it, for the pass and `otactl plan` alike.
 * - `write/`  effects: update transitions and events (`update-store`, `transition-writer`), status
 *             rows (`rollout-rows`), and the executor that makes the device requests a plan asks for.
 * - `run/`    the loop: `reconciler` (when passes run), `reconcile-pass` (rollouts, then updates),
 *             `update-pass`, the background work queue, failure isolation.
 * - `report/` what `otactl plan` prints.
 *
 * This index is what the rest of the controller (the composition root, the CLI) uses; the API,
 * metrics, dashboard and demo read the pure types from `plan/` directly.
 */
export { outcomeLabel, type UpdateOutcome } from './plan/actions.js';
export type { ActiveUpdate } from './plan/observation.js';
export { loadAppliedTargets } from './read/applied-targets.js';
export {
  buildPlanReport,
  describeWait,
  type PlanRevision,
  type RolloutPlanReport,
} from './report/plan-report.js';
export { Reconciler, type ReconcilerOptions } from './run/reconciler.js';
export type { PackageUriChoice } from './write/device-ops.js';
export { DEFAULT_TIMEOUTS, type ExecutorDeps } from './write/executor.js';
export { type Leadership, type PlannerRole, SOLE_PLANNER } from './write/planner-writes.js';
export { appendRolloutEvent, type UpdateEvent } from './write/update-store.js';
