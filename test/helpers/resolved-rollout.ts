import type {
  DesiredState,
  DeviceSelector,
  FirmwareSpec,
  ResolvedRollout,
} from '../../controller/manifests/index.js';

/** What a test changes in a rollout; the nested parts are merged into the defaults. */
export interface RolloutOverrides extends Partial<Omit<ResolvedRollout, 'firmware' | 'strategy'>> {
  readonly firmware?: Partial<FirmwareSpec>;
  readonly strategy?: Partial<ResolvedRollout['strategy']>;
  /** The group's selector (the group keeps its name `g`). */
  readonly selector?: DeviceSelector;
}

export const TEST_SOURCE = { file: '/m/r.yaml', line: 1 };

/** A selector of endpoint globs and exact endpoints, no attributes. */
export function endpointSelector(endpointPatterns: string[], endpoints: string[] = []): DeviceSelector {
  return { endpoints, endpointPatterns, attributes: {} };
}

/**
 * The one builder of ResolvedRollout test values: rollout `r` of group `g` (dev-*) to firmware
 * `fw` 2.0.0, one 100% step, no window, not suspended, unless `overrides` say otherwise.
 */
export function resolvedRollout(overrides: RolloutOverrides = {}): ResolvedRollout {
  const { firmware, strategy, selector = endpointSelector(['dev-*']), ...rest } = overrides;
  return {
    name: 'r',
    group: { name: 'g', selector, source: TEST_SOURCE },
    firmware: {
      name: 'fw',
      version: '2.0.0',
      file: 'fw.bin',
      sha256: 'a'.repeat(64),
      models: undefined,
      path: undefined,
      size: undefined,
      source: TEST_SOURCE,
      ...firmware,
    },
    suspend: false,
    priority: 0,
    allowDowngrade: false,
    strategy: {
      steps: [{ percent: 100, pause: { kind: 'none' } }],
      approved: 0,
      maxInFlight: 100,
      maxPerMinute: 1000,
      failureThreshold: { percent: 50, minUpdates: 10, action: 'pause' },
      ...strategy,
    },
    timeouts: { downloadMs: 60_000, updateMs: 60_000 },
    retries: { max: 2, backoffMs: 60_000 },
    window: undefined,
    verify: undefined,
    gate: undefined,
    source: TEST_SOURCE,
    ...rest,
  };
}

/** A desired state of exactly these rollouts, keyed by name. */
export function desiredStateOf(...rollouts: ResolvedRollout[]): DesiredState {
  return {
    generation: 'g1',
    firmware: new Map(),
    groups: new Map(),
    rollouts: new Map(rollouts.map((r) => [r.name, r])),
    notifications: new Map(),
    git: undefined,
  };
}
