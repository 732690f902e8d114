import { type Kysely, sql } from 'kysely';
import type { Database } from '../controller/store/index.js';
import { waitFor } from './concurrency.js';

/** Devices matching `condition` (a condition on `devices`). */
async function countDevices(db: Kysely<Database>, condition: ReturnType<typeof sql>): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from devices where ${condition}`.execute(db);
  return Number(r.rows[0]?.n ?? 0);
}

/** Resolves once `devices` devices registered on `version` and were interrogated. */
export function fleetInterrogated(
  db: Kysely<Database>,
  devices: number,
  version: string,
  timeoutMs: number,
): Promise<void> {
  return waitFor(
    'every simulated device registered and interrogated',
    async () =>
      (await countDevices(db, sql`info_read_at is not null and firmware_version = ${version}`)) === devices,
    timeoutMs,
    100,
  );
}

/**
 * Waits until every one of `devices` runs `version` and no update is active, or until `deadline`
 * (performance.now() time) passes; resolves with the devices on `version` by then.
 */
export async function rolloutDone(
  db: Kysely<Database>,
  devices: number,
  version: string,
  deadline: number,
): Promise<number> {
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const updated = await countDevices(db, sql`firmware_version = ${version}`);
    if (updated === devices) {
      const active = await sql<{ n: number }>`
        select count(*)::int as n from firmware_updates where finished_at is null`.execute(db);
      if (Number(active.rows[0]?.n ?? 0) === 0) return updated;
    }
    if (performance.now() > deadline) return updated;
  }
}
