import { type Kysely, sql } from 'kysely';
import type { Registration } from '../lwm2m/registration/registration.js';
import { type DeviceOwnership, ownedOrOrphaned } from '../replicas/device-ownership.js';
import type { Database } from '../store/schema.js';
import { registrationFromRow } from './registration-row.js';

/**
 * The registrations of every device stored as registered and not yet expired at `now`, for
 * `Lwm2mServer.restoreRegistrations` after a restart (the devices' next Updates then succeed).
 * With `ownership`, not those another live replica owns: they talk to it, and an Update of one
 * that comes here after all is answered 4.04, so the device registers here.
 */
export async function loadRegistrations(
  db: Kysely<Database>,
  now: number = Date.now(),
  ownership?: DeviceOwnership,
): Promise<Registration[]> {
  const rows = await db
    .selectFrom('devices')
    .select([
      'endpoint',
      'registration_id',
      'address',
      'port',
      'lifetime_s',
      'binding',
      'queue_mode',
      'security',
      'psk_identity',
      'lwm2m_version',
      'sms_number',
      'object_links',
      'registered_at',
      'last_seen_at',
    ])
    .where('registration_state', '=', 'registered')
    .where('expires_at', '>', new Date(now))
    .$if(ownership !== undefined, (qb) => qb.where(ownedOrOrphaned(sql.ref('owner_replica'), ownership!)))
    .execute();
  const out: Registration[] = [];
  for (const row of rows) {
    const reg = registrationFromRow(row);
    if (reg !== undefined) out.push(reg);
  }
  return out;
}
