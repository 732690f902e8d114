import type { DesiredState, ResolvedRollout } from '../../controller/manifests/index.js';
import { DEFAULT_TIMEOUTS } from '../../controller/reconcile/executor.js';

/**
 * A desired state of one suspended rollout `r` of group dev-* to `target`, its maintenance window
 * closed for good (00:00 on 1 January, for a minute), so no Execute runs: for tests of the update
 * pass that seed the database directly.
 */
export function closedWindowDesiredState(target: string): DesiredState {
  const source = { file: '/m/r.yaml', line: 1 };
  const rollout: ResolvedRollout = {
    name: 'r',
    group: { name: 'g', selector: { endpoints: [], endpointPatterns: ['dev-*'], attributes: {} }, source },
    firmware: {
      name: 'fw',
      version: target,
      file: 'fw.bin',
      sha256: 'a'.repeat(64),
      models: undefined,
      path: undefined,
      size: undefined,
      source,
    },
    suspend: true,
    priority: 0,
    allowDowngrade: false,
    strategy: {
      steps: [{ percent: 100, pause: { kind: 'none' } }],
      approved: 0,
      maxInFlight: 100,
      maxPerMinute: 1000,
      failureThreshold: { percent: 50, minUpdates: 10, action: 'pause' },
    },
    timeouts: DEFAULT_TIMEOUTS,
    retries: { max: 2, backoffMs: 60_000 },
    window: { cron: '0 0 1 1 *', timezone: 'UTC', durationMs: 60_000 },
    source,
  };
  return {
    generation: 'g1',
    firmware: new Map(),
    groups: new Map(),
    rollouts: new Map([['r', rollout]]),
    git: undefined,
  };
}
