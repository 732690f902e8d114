import type { Kysely } from 'kysely';
import type { Registration } from '../lwm2m/registration/registration.js';
import type { Database } from '../store/schema.js';
import { registrationFromRow } from './registration-row.js';

/**
 * The registrations of every device stored as registered and not yet expired at `now`, for
 * `Lwm2mServer.restoreRegistrations` after a restart (the devices' next Updates then succeed).
 */
export async function loadRegistrations(
  db: Kysely<Database>,
  now: number = Date.now(),
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
    .execute();
  const out: Registration[] = [];
  for (const row of rows) {
    const reg = registrationFromRow(row);
    if (reg !== undefined) out.push(reg);
  }
  return out;
}
