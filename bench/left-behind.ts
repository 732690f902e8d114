import { type Kysely, sql } from 'kysely';
import type { Database } from '../controller/store/index.js';

/**
 * Why devices are not on `version` when a rollout's window closed: counts by their last update's
 * phase and reason and the device's own State/Result, and the events of one of them; '' when
 * every device got there.
 */
export async function leftBehind(db: Kysely<Database>, version: string): Promise<string> {
  const groups = await sql<{ what: string; n: number }>`
    select concat_ws(' ', coalesce('update ' || u.phase, 'no update'), u.failure_reason,
        'state ' || d.fw_state || ' result ' || d.fw_result, d.registration_state) as what,
      count(*)::int as n
    from devices d
    left join lateral (select phase, failure_reason from firmware_updates
      where device_id = d.id order by id desc limit 1) u on true
    where d.firmware_version is distinct from ${version}
    group by 1 order by 2 desc limit 5`.execute(db);
  if (groups.rows.length === 0) return '';
  const example = await sql<{ at: Date; type: string; message: string }>`
    select e.at, e.type, e.message from events e
    where e.endpoint = (select endpoint from devices where firmware_version is distinct from ${version}
      order by endpoint limit 1)
    order by e.id desc limit 6`.execute(db);
  const events = example.rows
    .reverse()
    .map((e) => `${new Date(e.at).toISOString().slice(11, 23)} ${e.type}: ${e.message}`)
    .join(' | ');
  return `${groups.rows.map((g) => `${g.n} x ${g.what}`).join(', ')}; one of them: ${events}`;
}
