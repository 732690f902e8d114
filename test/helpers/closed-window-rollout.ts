import type { DesiredState, ResolvedRollout } from '../../controller/manifests/index.js';
import { DEFAULT_TIMEOUTS } from '../../controller/reconcile/write/executor.js';
import type { ActivePhase, OpenDatabase } from '../../controller/store/index.js';

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

const HOUR = 3_600_000;

/**
 * Devices dev-0..dev-(n-1) on 1.0.0, registered an hour ago, each with one update of rollout `r`
 * to `target` in `phase`, its Package URI written a minute before `now`; the devices last reported
 * `fwState` at `reportedAt`. Returns the update ids.
 */
export async function seedActiveUpdates(
  store: OpenDatabase,
  options: {
    count: number;
    target: string;
    phase: ActivePhase;
    now: number;
    fwState: number;
    reportedAt: number;
  },
): Promise<number[]> {
  const { count, target, phase, now } = options;
  const written = new Date(now - 60_000);
  const devices = await store.db
    .insertInto('devices')
    .values(
      Array.from({ length: count }, (_, i) => ({
        endpoint: `dev-${i}`,
        registration_state: 'registered' as const,
        registered_at: new Date(now - HOUR),
        firmware_version: '1.0.0',
        info_read_at: new Date(now - HOUR),
        fw_state: options.fwState,
        fw_result: 0,
        fw_reported_at: new Date(options.reportedAt),
        updated_at: new Date(now),
      })),
    )
    .returning(['id', 'endpoint'])
    .execute();
  const rows = await store.db
    .insertInto('firmware_updates')
    .values(
      devices.map((d) => ({
        device_id: d.id,
        endpoint: d.endpoint,
        rollout: 'r',
        firmware: 'fw',
        target_version: target,
        attempt: 1,
        phase,
        package_uri: 'http://127.0.0.1/fw.bin',
        phase_changed_at: written,
        uri_written_at: written,
        deadline_at: phase === 'downloading' ? new Date(now + HOUR) : null,
      })),
    )
    .returning('id')
    .execute();
  return rows.map((r) => Number(r.id));
}
