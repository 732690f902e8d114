import type { Kysely } from 'kysely';
import { isUniqueViolation } from './errors.js';
import type { Database, FirmwareUpdateRow, NewFirmwareUpdate } from './schema.js';

export type StartUpdateOutcome =
  | { readonly kind: 'started'; readonly update: FirmwareUpdateRow }
  | { readonly kind: 'already-active' };

/**
 * Inserts the active row of a new update. The partial unique index decides races between
 * passes and replicas: losing one is an ordinary outcome, not an error.
 */
export async function startUpdate(
  db: Kysely<Database>,
  update: Omit<NewFirmwareUpdate, 'phase' | 'finished_at'>,
): Promise<StartUpdateOutcome> {
  try {
    const row = await db
      .insertInto('firmware_updates')
      .values({ ...update, phase: 'pending', finished_at: null })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { kind: 'started', update: row };
  } catch (error) {
    if (isUniqueViolation(error, 'firmware_updates_one_active_per_device')) return { kind: 'already-active' };
    throw error;
  }
}

export async function activeUpdateOf(
  db: Kysely<Database>,
  deviceId: number,
): Promise<FirmwareUpdateRow | undefined> {
  return db
    .selectFrom('firmware_updates')
    .selectAll()
    .where('device_id', '=', deviceId)
    .where('finished_at', 'is', null)
    .executeTakeFirst();
}
