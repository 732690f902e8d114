import type { DatabaseKind, Figure } from './figure.js';

/** What the rollout scenario saw of the reconciler, from the rollout manifest to convergence. */
export interface PassTally {
  readonly passes: number;
  /** Passes that planned the rollouts (and read every group member); the others acted on updates. */
  readonly fullPasses: number;
  readonly seconds: number;
  /** Every statement of the controller in that time, BEGIN and COMMIT included. */
  readonly statements: number;
  /** Controller process CPU (PGlite included when it is the database). */
  readonly cpuSeconds: number;
}

/**
 * The cost of one reconcile decision. While updates are in flight the passes run back to back, so
 * statements per update grow with the rollout's wall time: these figures divide by the passes
 * instead. Fewer passes for the same rollout, fewer statements and less CPU per pass are better.
 */
export function passCostFigures(
  t: PassTally,
  common: { readonly fleet: number; readonly database: Exclude<DatabaseKind, 'none'> },
): Figure[] {
  const passes = Math.max(1, t.passes);
  const key = `${common.fleet}.${common.database}`;
  const split = `${t.passes} passes (${t.fullPasses} planning the rollouts) in ${t.seconds.toFixed(1)} s`;
  return [
    {
      id: `rollout.statements-per-pass.${key}`,
      what: 'rollout: database statements per reconcile pass',
      value: t.statements / passes,
      unit: 'queries',
      better: 'lower',
      ...common,
      note: `${t.statements} statements of the whole controller (device events included), BEGIN/COMMIT counted; ${split}`,
    },
    {
      id: `rollout.passes-per-second.${key}`,
      what: 'rollout: reconcile passes per second',
      value: t.passes / Math.max(t.seconds, 0.001),
      unit: '/s',
      better: 'lower',
      ...common,
      note: split,
    },
    {
      id: `rollout.cpu-per-pass.${key}`,
      what: 'rollout: controller CPU ms per reconcile pass',
      value: (t.cpuSeconds * 1000) / passes,
      unit: 'ms',
      better: 'lower',
      ...common,
      note: `${t.cpuSeconds.toFixed(1)} CPU s of the controller process${common.database === 'pglite' ? ' (PGlite included)' : ' (Postgres server not included)'}; ${split}`,
    },
  ];
}
