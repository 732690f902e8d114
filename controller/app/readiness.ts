import type { Readiness } from '../api/index.js';
import type { ReplicaHealth } from '../metrics/index.js';

/** What the parts report about the controller's health, read at each probe and scrape. */
export interface HealthReport {
  readonly manifestsLoaded: boolean;
  readonly reconcileFailing: boolean;
  readonly deviceWritesFailing: boolean;
  readonly deviceWritesQuarantined: number;
  readonly replica?: ReplicaHealth;
}

/**
 * /readyz: ready once valid manifests are loaded, while passes and device writes are not failing, and
 * while the replica can reach the planner lease. A follower is ready: it drives its devices' updates;
 * one whose last lease attempt failed is not, since it cannot tell whether it should lead (a leader
 * cut off from the database has stopped leading by then).
 */
export function readiness(health: HealthReport): Readiness {
  const reasons: string[] = [];
  if (!health.manifestsLoaded) reasons.push('no valid manifests loaded yet');
  if (health.reconcileFailing) reasons.push('reconcile passes have been failing for 30 s or more');
  if (health.deviceWritesFailing) reasons.push('device writes have been failing for 30 s or more');
  if (health.replica?.leaseFailing) {
    reasons.push('the planner lease cannot be read or renewed (database unreachable from this replica)');
  }
  return { ready: reasons.length === 0, reasons };
}
