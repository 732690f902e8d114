import { type Kysely, sql } from 'kysely';
import { type DeviceOwnership, ownedOrOrphaned } from '../../replicas/index.js';
import type { Database, DeviceCommandKind } from '../../store/index.js';
import type { UpdateStep } from './executor.js';

/** The device request an update's next step makes, as the outbox records it. */
export function commandKind(step: UpdateStep): DeviceCommandKind {
  switch (step.kind) {
    case 'write-uri':
    case 'execute':
      return step.kind;
    case 'reset-before-write':
    case 'reset-device':
    case 'withdraw':
      return 'reset';
    case 'poll-state':
    case 'verify-version':
    case 'read-error-code':
    case 'follow-error-code':
      return 'read';
    case 'mark-downloaded':
    case 'adopt-uri':
    case 'rearm':
    case 'begin-bake':
    case 'finish':
      throw new Error(`${step.kind} makes no device request`);
  }
}

export interface CommandWanted {
  readonly updateId: number;
  readonly kind: DeviceCommandKind;
}

/**
 * Claims the next device request of each update for `ownership.replicaId`, in one statement:
 * inserts the claims no replica holds and takes over those that expired, whose replica stopped
 * heartbeating, or that this replica holds already (its work queue runs one task per update, so
 * such a claim is left over from an earlier task or an earlier process with this id). A claim
 * another replica is taking over at the same moment is skipped (SKIP LOCKED), never waited for;
 * two replicas inserting one claim meet at the primary key, and only the first gets it. Only
 * updates of devices this replica may reach are claimed (the ownership condition of the update
 * pass, evaluated again here). Only claims absent at the statement's start are inserted, in
 * update order, so two statements wait on each other only for keys both insert, in one direction
 * (no deadlock). Each claim lasts `claimMs` by the database clock. The same statement
 * deletes expired claims of finished updates (left by a replica that died holding one). Returns the
 * update ids this replica now holds.
 */
export async function claimCommands(
  db: Kysely<Database>,
  wanted: readonly CommandWanted[],
  ownership: DeviceOwnership,
  claimMs: number,
): Promise<Set<number>> {
  const ids = `{${wanted.map((w) => w.updateId).join(',')}}`;
  const kinds = `{${wanted.map((w) => w.kind).join(',')}}`;
  const me = ownership.replicaId;
  const expiry = sql`now() + ${claimMs} * interval '1 millisecond'`;
  const free = ownership.sole
    ? sql`true`
    : sql`(k.replica = ${me} or k.expires_at <= now() or not exists (
        select 1 from replicas r
        where r.id = k.replica and r.heartbeat_at > now() - ${ownership.goneAfterMs} * interval '1 millisecond'))`;
  const result = await sql<{ update_id: string | number }>`
    with wanted as materialized (
      select w.update_id, w.kind, u.device_id
      from unnest(${ids}::bigint[], ${kinds}::text[]) as w(update_id, kind)
      join firmware_updates u on u.id = w.update_id
      join devices d on d.id = u.device_id
      where ${ownedOrOrphaned(sql.ref('d.owner_replica'), ownership)}
    ),
    free as (
      select k.update_id from device_commands k
      where k.update_id = any(${ids}::bigint[]) and ${free}
      for update skip locked
    ),
    taken as (
      update device_commands k set kind = w.kind, replica = ${me}, claimed_at = now(), expires_at = ${expiry}
      from wanted w join free f on f.update_id = w.update_id
      where k.update_id = w.update_id
      returning k.update_id
    ),
    added as (
      insert into device_commands (update_id, device_id, kind, replica, claimed_at, expires_at)
      select w.update_id, w.device_id, w.kind, ${me}, now(), ${expiry} from wanted w
      where not exists (select 1 from device_commands k where k.update_id = w.update_id)
      order by w.update_id
      on conflict (update_id) do nothing
      returning update_id
    ),
    swept as (
      delete from device_commands where update_id in (
        select k.update_id from device_commands k join firmware_updates u on u.id = k.update_id
        where k.expires_at <= now() and u.finished_at is not null and k.update_id <> all(${ids}::bigint[])
        for update of k skip locked)
    )
    select update_id from taken union all select update_id from added`.execute(db);
  return new Set(result.rows.map((r) => Number(r.update_id)));
}

/** Gives back this replica's claims on these updates (their requests settled without moving them). */
export async function releaseCommands(
  db: Kysely<Database>,
  updateIds: readonly number[],
  replica: string,
): Promise<void> {
  if (updateIds.length === 0) return;
  await db
    .deleteFrom('device_commands')
    .where('update_id', '=', sql<number>`any(${`{${updateIds.join(',')}}`}::bigint[])`)
    .where('replica', '=', replica)
    .execute();
}
