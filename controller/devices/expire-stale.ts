import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.js';

/**
 * Marks devices still stored as registered whose lifetime ended by `now` (they expired while no
 * controller was running) as expired, each with a DeviceExpired event; one statement.
 */
export async function expireStaleRegistrations(
  db: Kysely<Database>,
  now: number,
): Promise<{ readonly endpoint: string; readonly registrationId: string }[]> {
  const at = new Date(now);
  const rows = await db
    .with('gone', (qb) =>
      qb
        .updateTable('devices')
        .set({ registration_state: 'expired', updated_at: at })
        .where('registration_state', '=', 'registered')
        .where('expires_at', '<=', at)
        .returning(['endpoint', 'registration_id', 'expires_at']),
    )
    .insertInto('events')
    .columns(['at', 'endpoint', 'type', 'message', 'details'])
    .expression((eb) =>
      eb
        .selectFrom('gone')
        .select([
          sql<Date>`${at}::timestamptz`.as('at'),
          'endpoint',
          sql<string>`'DeviceExpired'`.as('type'),
          sql<string>`'registration expired while no controller was running'`.as('message'),
          sql<string>`jsonb_build_object('registrationId', registration_id, 'expiresAt', expires_at)`.as(
            'details',
          ),
        ]),
    )
    .returning(['endpoint', sql<string>`details->>'registrationId'`.as('registration_id')])
    .execute();
  return rows.map((r) => ({ endpoint: r.endpoint ?? '', registrationId: r.registration_id }));
}
