import { type Kysely, sql } from 'kysely';
import { type DeviceOwnership, ownedOrOrphaned } from '../../replicas/index.js';
import type { ActivePhase, Database } from '../../store/index.js';
import { hasFirmwareCancel } from '../plan/cancel-support.js';
import type { ActiveUpdate } from '../plan/observation.js';

/**
 * Which active updates a pass looks at: all of them, or only those that may have something new to
 * act on: their device reported something, their last device request settled, or they were just
 * started. Everything else is unchanged since the pass that last looked at it, apart from the
 * clock, which the planner's recheck times and the periodic sweep cover (see Reconciler).
 */
export type ActiveScope =
  | { readonly kind: 'all' }
  | {
      readonly kind: 'changed';
      readonly updateIds: readonly number[];
      readonly endpoints: readonly string[];
      /** Updates created at or after this time (epoch ms): the ones this pass started, if any. */
      readonly createdSince?: number;
    };

export const ALL_ACTIVE: ActiveScope = { kind: 'all' };

/**
 * Active updates in `scope`, with their devices' last reports, oldest first; with `ownership`,
 * only those of devices no other live replica owns (one condition in the same statement).
 */
export async function loadActiveUpdates(
  db: Kysely<Database>,
  scope: ActiveScope = ALL_ACTIVE,
  ownership?: DeviceOwnership,
): Promise<ActiveUpdate[]> {
  let query = db
    .selectFrom('firmware_updates as u')
    .innerJoin('devices as d', 'd.id', 'u.device_id')
    .select([
      'u.id',
      'u.device_id',
      'u.endpoint',
      'u.rollout',
      'u.firmware',
      'u.target_version',
      'u.from_version',
      'u.phase',
      'u.attempt',
      'u.git_revision',
      'u.created_at',
      'u.phase_changed_at',
      'u.deadline_at',
      'u.uri_written_at',
      'u.executed_at',
      'u.reset_at',
      'u.bake_until',
      'u.bake_registrations',
      'd.registration_state',
      'd.registered_at',
      'd.firmware_version',
      'd.info_read_at',
      'd.fw_state',
      'd.fw_result',
      'd.fw_reported_at',
      'd.fw_protocol_support',
      'd.model',
      'd.object_links',
      'd.registrations',
      'd.last_seen_at',
      'd.lifetime_s',
      'd.error_code',
      'd.error_code_read_at',
      'd.error_code_followed_in',
      'd.registration_id',
    ])
    .where('u.finished_at', 'is', null)
    // An unfinished row is in an active phase (the CHECK firmware_updates_finished_consistent).
    .$narrowType<{ phase: ActivePhase }>()
    .$if(ownership !== undefined, (qb) => qb.where(ownedOrOrphaned(sql.ref('d.owner_replica'), ownership!)));
  if (
    scope.kind === 'changed' &&
    scope.endpoints.length === 0 &&
    scope.updateIds.length === 0 &&
    scope.createdSince === undefined
  ) {
    return [];
  }
  if (scope.kind === 'changed') {
    // By device id, so the one-active index finds each row; the union keeps every branch indexed.
    const started =
      scope.createdSince === undefined
        ? sql``
        : sql`union select device_id from firmware_updates
            where created_at >= ${new Date(scope.createdSince)}::timestamptz and finished_at is null`;
    query = query.where(
      'u.device_id',
      'in',
      sql<number>`(
        select id from devices where endpoint = any(${sql.val([...scope.endpoints])}::text[])
        union
        select device_id from firmware_updates where id = any(${sql.val(scope.updateIds.map(String))}::bigint[])
        ${started}
      )`,
    );
  }
  const rows = await query.orderBy('u.id').execute();
  const ms = (d: Date | null) => (d === null ? null : d.getTime());
  return rows.map((r) => ({
    id: Number(r.id),
    deviceId: r.device_id,
    endpoint: r.endpoint,
    rollout: r.rollout,
    firmware: r.firmware,
    targetVersion: r.target_version,
    fromVersion: r.from_version,
    phase: r.phase,
    attempt: r.attempt,
    gitRevision: r.git_revision,
    createdAt: r.created_at.getTime(),
    phaseChangedAt: r.phase_changed_at.getTime(),
    deadlineAt: ms(r.deadline_at),
    uriWrittenAt: ms(r.uri_written_at),
    executedAt: ms(r.executed_at),
    resetAt: ms(r.reset_at),
    bakeUntil: ms(r.bake_until),
    bakeRegistrations: r.bake_registrations,
    device: {
      registrationState: r.registration_state,
      registeredAt: ms(r.registered_at),
      firmwareVersion: r.firmware_version,
      infoReadAt: ms(r.info_read_at),
      fwState: r.fw_state,
      fwResult: r.fw_result,
      fwReportedAt: ms(r.fw_reported_at),
      fwProtocolSupport: r.fw_protocol_support,
      model: r.model,
      canCancel: hasFirmwareCancel(r.object_links),
      registrations: r.registrations,
      lastSeenAt: ms(r.last_seen_at),
      lifetimeS: r.lifetime_s,
      errorCode: r.error_code,
      errorCodeReadAt: ms(r.error_code_read_at),
      errorCodeFollowed: r.error_code_followed_in !== null && r.error_code_followed_in === r.registration_id,
    },
  }));
}
