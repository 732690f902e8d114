import { type RawBuilder, sql } from 'kysely';

/**
 * Which replica a device belongs to (issue 20): the one it last sent a Register or Update to holds
 * its NAT binding and DTLS session, and only that one can reach it. `goneAfterMs`: a replica silent
 * this long (by the database clock) owns nothing any more, so its devices are anyone's until they
 * reach a replica again.
 */
export interface DeviceOwnership {
  readonly replicaId: string;
  readonly goneAfterMs: number;
  /** The only process on its database (PGlite): every device is its own, whoever is recorded. */
  readonly sole?: boolean;
}

/**
 * A condition on the owner column `owner` (e.g. `d.owner_replica`): true when the device is this
 * replica's, has no owner, or its owner stopped heartbeating. False only while another live
 * replica owns it. One indexed probe of `replicas` per row.
 */
export function ownedOrOrphaned(owner: RawBuilder<unknown>, ownership: DeviceOwnership): RawBuilder<boolean> {
  if (ownership.sole) return sql<boolean>`true`;
  return sql<boolean>`(${owner} is null or ${owner} = ${ownership.replicaId} or not exists (
    select 1 from replicas r
    where r.id = ${owner} and r.heartbeat_at > now() - ${ownership.goneAfterMs} * interval '1 millisecond'))`;
}
