import { type Kysely, sql } from 'kysely';
import type { Database, DeviceCommandKind } from '../store/index.js';

/** A device request in flight, as `/api/v1/commands` shows it. */
export interface CommandView {
  readonly updateId: number;
  readonly endpoint: string;
  readonly rollout: string;
  readonly kind: DeviceCommandKind;
  readonly replica: string;
  readonly ageMs: number;
  /** Past its expiry (by the database clock): the next replica to want it takes it over. */
  readonly expired: boolean;
}

/** The device requests in flight, oldest claim first, at most `limit`, and how many there are. */
export async function listCommands(
  db: Kysely<Database>,
  limit: number,
): Promise<{ readonly commands: readonly CommandView[]; readonly total: number }> {
  const [rows, count] = await Promise.all([
    sql<{
      update_id: string | number;
      endpoint: string;
      rollout: string;
      kind: DeviceCommandKind;
      replica: string;
      age_ms: string | number;
      expired: boolean;
    }>`
      select k.update_id, u.endpoint, u.rollout, k.kind, k.replica,
        extract(epoch from now() - k.claimed_at) * 1000 as age_ms, k.expires_at <= now() as expired
      from device_commands k join firmware_updates u on u.id = k.update_id
      order by k.claimed_at, k.update_id limit ${limit}`.execute(db),
    db
      .selectFrom('device_commands')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .executeTakeFirst(),
  ]);
  return {
    commands: rows.rows.map((r) => ({
      updateId: Number(r.update_id),
      endpoint: r.endpoint,
      rollout: r.rollout,
      kind: r.kind,
      replica: r.replica,
      ageMs: Math.max(0, Math.round(Number(r.age_ms))),
      expired: r.expired,
    })),
    total: Number(count?.n ?? 0),
  };
}

/** Device requests in flight by replica and kind (metrics, the replicas view). */
export async function countCommands(
  db: Kysely<Database>,
): Promise<{ readonly replica: string; readonly kind: DeviceCommandKind; readonly n: number }[]> {
  const rows = await db
    .selectFrom('device_commands')
    .select(['replica', 'kind', (eb) => eb.fn.countAll<string | number>().as('n')])
    .groupBy(['replica', 'kind'])
    .execute();
  return rows.map((r) => ({ replica: r.replica, kind: r.kind, n: Number(r.n) }));
}
