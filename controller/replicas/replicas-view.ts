import type { Kysely } from 'kysely';
import type { Database } from '../store/index.js';
import { readLease } from './lease-store.js';
import { listReplicas } from './replica-registry.js';

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
}

/** What `/api/v1/replicas` and `otactl status` show: every replica row and the lease, one read each. */
export async function readReplicasView(
  db: Kysely<Database>,
  lease: string,
  goneAfterMs: number,
): Promise<ReplicasView> {
  const [rows, held] = await Promise.all([listReplicas(db), readLease(db, lease)]);
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
  };
}
