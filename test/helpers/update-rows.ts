import type { Kysely } from 'kysely';
import type { Database, NewFirmwareUpdate } from '../../controller/store/index.js';

/**
 * A pending update of `endpoint`'s device to 2.0.0 in rollout `r`, inserted as the planner would
 * have admitted it; `columns` overrides any column (phase, times, target). Returns its id.
 */
export async function insertUpdateRow(
  db: Kysely<Database>,
  endpoint: string,
  columns: Partial<NewFirmwareUpdate> = {},
): Promise<number> {
  const device = await db
    .selectFrom('devices')
    .select('id')
    .where('endpoint', '=', endpoint)
    .executeTakeFirstOrThrow();
  const row = await db
    .insertInto('firmware_updates')
    .values({
      device_id: device.id,
      endpoint,
      rollout: 'r',
      firmware: 'fw',
      target_version: '2.0.0',
      attempt: 1,
      phase: 'pending',
      phase_changed_at: new Date(),
      ...columns,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}
