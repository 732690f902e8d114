import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { countCommands } from './command-view.js';
import { readLease } from './lease-store.js';
import { countDevicesByOwner, listReplicas } from './replica-registry.js';

export interface ReplicaView {
  readonly id: string;
  readonly version: string;
  readonly addresses: Readonly<Record<string, string>>;
  readonly startedAt: string;
  readonly heartbeatAgeMs: number;
  /** `gone`: no heartbeat for the gone-after period (its row is deleted later). */
  readonly status: 'live' | 'gone';
  /** Holds the planner lease, by the database clock. */
  readonly leader: boolean;
  /** Registered devices whose last Register or Update came to this replica. */
  readonly devices: number;
  /** Device requests it claimed and has not settled (`device_commands`, see /api/v1/commands). */
  readonly commands: number;
}

export interface ReplicasView {
  readonly replicas: readonly ReplicaView[];
  /** The planner lease; `expired` when its holder has not renewed it in time. */
  readonly lease: {
    readonly name: string;
    readonly holder: string;
    readonly epoch: number;
    readonly remainingMs: number;
    readonly expired: boolean;
  } | null;
  /**
   * Registered devices of no replica listed here: no owner recorded (registered before ownership),
   * or their owner's row is gone. They belong to whichever replica they reach next.
   */
  readonly devicesWithoutReplica: number;
}

/**
 * What `/api/v1/replicas` and `otactl status` show: every replica row, the lease, registered
 * devices per owner and device requests in flight per replica, one read each.
 */
export async function readReplicasView(
  db: Kysely<Database>,
  lease: string,
  goneAfterMs: number,
): Promise<ReplicasView> {
  const [rows, held, owned, commands] = await Promise.all([
    listReplicas(db),
    readLease(db, lease),
    countDevicesByOwner(db),
    countCommands(db),
  ]);
  const claimed = new Map<string, number>();
  for (const c of commands) claimed.set(c.replica, (claimed.get(c.replica) ?? 0) + c.n);
  const listed = new Set(rows.map((r) => r.id));
  let devicesWithoutReplica = 0;
  for (const [owner, n] of owned) if (owner === null || !listed.has(owner)) devicesWithoutReplica += n;
  const live = held !== undefined && held.remainingMs > 0;
  return {
    replicas: rows.map((r) => ({
      id: r.id,
      version: r.version,
      addresses: r.addresses,
      startedAt: r.startedAt.toISOString(),
      heartbeatAgeMs: Math.round(r.heartbeatAgeMs),
      status: r.heartbeatAgeMs >= goneAfterMs ? 'gone' : 'live',
      leader: live && held.holder === r.id,
      devices: owned.get(r.id) ?? 0,
      commands: claimed.get(r.id) ?? 0,
    })),
    lease: held
      ? {
          name: held.name,
          holder: held.holder,
          epoch: held.epoch,
          remainingMs: Math.max(0, Math.round(held.remainingMs)),
          expired: !live,
        }
      : null,
    devicesWithoutReplica,
  };
}
