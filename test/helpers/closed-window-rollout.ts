import type { DesiredState } from '../../controller/manifests/index.js';
import { DEFAULT_TIMEOUTS } from '../../controller/reconcile/write/executor.js';
import type { ActivePhase, OpenDatabase } from '../../controller/store/index.js';
import { desiredStateOf, resolvedRollout } from './resolved-rollout.js';

/**
 * A desired state of one suspended rollout `r` of group dev-* to `target`, its maintenance window
 * closed for good (00:00 on 1 January, for a minute), so no Execute runs: for tests of the update
 * pass that seed the database directly.
 */
export function closedWindowDesiredState(target: string): DesiredState {
  return desiredStateOf(
    resolvedRollout({
      firmware: { version: target },
      suspend: true,
      timeouts: DEFAULT_TIMEOUTS,
      window: { cron: '0 0 1 1 *', timezone: 'UTC', durationMs: 60_000 },
    }),
  );
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
