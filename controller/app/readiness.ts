import type { Readiness } from '../api/index.js';

/** What the parts report about the controller's health, read at each probe and scrape. */
export interface HealthReport {
  readonly manifestsLoaded: boolean;
  readonly reconcileFailing: boolean;
  readonly deviceWritesFailing: boolean;
  readonly deviceWritesQuarantined: number;
}

/** /readyz: ready once valid manifests are loaded, while passes and device writes are not failing. */
export function readiness(health: HealthReport): Readiness {
  const reasons: string[] = [];
  if (!health.manifestsLoaded) reasons.push('no valid manifests loaded yet');
  if (health.reconcileFailing) reasons.push('reconcile passes have been failing for 30 s or more');
  if (health.deviceWritesFailing) reasons.push('device writes have been failing for 30 s or more');
  return { ready: reasons.length === 0, reasons };
}
