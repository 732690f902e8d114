import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/index.js';

/** What a replica publishes about itself. */
export interface ReplicaInfo {
  readonly id: string;
  readonly version: string;
  /** Its ports as devices and operators reach them, by name: {"coap": "host:5683", "http": "host:8080"}. */
  readonly addresses: Readonly<Record<string, string>>;
}

export interface ReplicaRow extends ReplicaInfo {
  readonly startedAt: Date;
  readonly heartbeatAt: Date;
  /** Since the last heartbeat, by the database clock. */
  readonly heartbeatAgeMs: number;
}

/** Writes the replica's row at start (a restarted id starts again). */
export async function registerReplica(db: Kysely<Database>, info: ReplicaInfo): Promise<void> {
  await sql`
    insert into replicas (id, started_at, heartbeat_at, version, addresses)
    values (${info.id}, now(), now(), ${info.version}, ${JSON.stringify(info.addresses)}::jsonb)
    on conflict (id) do update set started_at = now(), heartbeat_at = now(),
      version = excluded.version, addresses = excluded.addresses`.execute(db);
}

/**
 * The heartbeat: moves heartbeat_at to the database's now (re-creating a row that was cleaned while
 * the replica was cut off), and deletes rows silent for `forgetAfterMs`.
 */
export async function heartbeat(
  db: Kysely<Database>,
  info: ReplicaInfo,
  forgetAfterMs: number,
): Promise<void> {
  await sql`
    with beat as (
      insert into replicas (id, started_at, heartbeat_at, version, addresses)
      values (${info.id}, now(), now(), ${info.version}, ${JSON.stringify(info.addresses)}::jsonb)
      on conflict (id) do update set heartbeat_at = now()
      returning id
    )
    delete from replicas
    where heartbeat_at < now() - ${forgetAfterMs} * interval '1 millisecond'
      and id <> (select id from beat)`.execute(db);
}

/** Removes the replica's row (a clean stop). */
export async function deregisterReplica(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('replicas').where('id', '=', id).execute();
}

export async function listReplicas(db: Kysely<Database>): Promise<ReplicaRow[]> {
  const result = await sql<{
    id: string;
    version: string;
    addresses: Record<string, string>;
    started_at: Date;
    heartbeat_at: Date;
    age_ms: number;
  }>`
    select id, version, addresses, started_at, heartbeat_at,
      (extract(epoch from (now() - heartbeat_at)) * 1000)::float8 as age_ms
    from replicas order by id`.execute(db);
  return result.rows.map((r) => ({
    id: r.id,
    version: r.version,
    addresses: r.addresses,
    startedAt: new Date(r.started_at),
    heartbeatAt: new Date(r.heartbeat_at),
    heartbeatAgeMs: Math.max(0, Number(r.age_ms)),
  }));
}

/** Registered devices by owner replica (null: none recorded); one pass over the owner index. */
export async function countDevicesByOwner(db: Kysely<Database>): Promise<Map<string | null, number>> {
  const rows = await db
    .selectFrom('devices')
    .select(['owner_replica', (eb) => eb.fn.countAll<number>().as('n')])
    .where('registration_state', '=', 'registered')
    .groupBy('owner_replica')
    .execute();
  return new Map(rows.map((r) => [r.owner_replica, Number(r.n)]));
}
