import type { RolloutEvent } from '../plan/plan-rollout.js';
import type { ExecutorLogger } from '../write/executor.js';

/** Event types that only repeat the phase change logged beside them (they exist for notifications). */
const REPEATS_PHASE_CHANGE: ReadonlySet<string> = new Set(['RolloutCompleted', 'RolloutDegraded']);

/** Phases someone must look at: logged as warnings. */
const NEEDS_A_LOOK = /-> (Paused|Aborted|Degraded):/;

/**
 * A rollout's events of one pass, as log lines once they are stored: what an operator reading the
 * controller's log should see without the API (a step started or completed, a phase change, a
 * paused or aborted rollout, an approval needed). The rollout and its commit are fields.
 */
export function logRolloutEvents(
  logger: ExecutorLogger | undefined,
  rollout: string,
  revision: string | null,
  events: readonly RolloutEvent[],
): void {
  if (logger === undefined) return;
  const fields = { rollout, ...(revision === null ? {} : { revision: revision.slice(0, 12) }) };
  for (const event of events) {
    if (REPEATS_PHASE_CHANGE.has(event.type)) continue;
    const warn =
      event.type === 'RolloutAborted' ||
      event.type === 'RolloutPaused' ||
      (event.type === 'RolloutPhaseChanged' && NEEDS_A_LOOK.test(event.message));
    const line = `rollout ${rollout}: ${event.message}`;
    if (warn) logger.warn({ ...fields, event: event.type }, line);
    else logger.info({ ...fields, event: event.type }, line);
  }
}
