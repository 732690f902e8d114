import { type Kysely, sql } from 'kysely';
import type { Database } from '../store/schema.js';

/**
 * Marks devices still stored as registered whose lifetime ended by `now` (they expired while no
 * controller was running) as expired, each with a DeviceExpired event; one statement. The event
 * records the address it was last heard from (`source`, as `registrationSource` writes it), never
 * the registration id (events are public).
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
        .returning(['endpoint', 'registration_id', 'expires_at', 'address', 'port']),
    )
    .with('logged', (qb) =>
      qb
        .insertInto('events')
        .columns(['at', 'endpoint', 'type', 'message', 'details'])
        .expression((eb) =>
          eb.selectFrom('gone').select([
            sql<Date>`${at}::timestamptz`.as('at'),
            'endpoint',
            sql<string>`'DeviceExpired'`.as('type'),
            sql<string>`'registration expired while no controller was running'`.as('message'),
            sql<string>`jsonb_build_object(
                'source',
                case when strpos(address, ':') > 0 then '[' || address || ']:' || port
                  else address || ':' || port end,
                'expiresAt',
                expires_at
              )`.as('details'),
          ]),
        ),
    )
    .selectFrom('gone')
    .select(['endpoint', 'registration_id'])
    .execute();
  return rows.map((r) => ({ endpoint: r.endpoint, registrationId: r.registration_id ?? '' }));
}
