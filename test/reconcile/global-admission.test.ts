import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { beginUpdates, type NewUpdate } from '../../controller/reconcile/write/update-store.js';
import type { OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

let store: OpenDatabase | undefined;
afterEach(async () => {
  await store?.close();
  store = undefined;
});

const STARTED = { type: 'UpdateStarted', message: 'started' };

/** Ten devices and an update to start for each, stamped with a controller clock an hour off. */
async function candidates(db: OpenDatabase['db']): Promise<NewUpdate[]> {
  const skewed = new Date(Date.now() - 3_600_000);
  const out: NewUpdate[] = [];
  for (let i = 0; i < 10; i++) {
    const endpoint = `dev-${i}`;
    const { id } = await db
      .insertInto('devices')
      .values({ endpoint, updated_at: new Date() })
      .returning('id')
      .executeTakeFirstOrThrow();
    out.push({
      device_id: id,
      endpoint,
      rollout: 'r',
      firmware: 'fw',
      target_version: '2.0.0',
      attempt: 1,
      created_at: skewed,
      phase_changed_at: skewed,
    });
  }
  return out;
}

const finishAll = (db: OpenDatabase['db']) =>
  sql`update firmware_updates set phase = 'succeeded', finished_at = now() where finished_at is null`.execute(
    db,
  );

describe.each(testBackends)('admission on $name', (backend) => {
  it('admits in one statement no more than maxInFlight and maxPerMinute allow, by the database clock', async () => {
    store = await backend.open();
    const db = store.db;
    const all = await candidates(db);
    const limits = { rollout: 'r', maxInFlight: 3, maxPerMinute: 5 };
    const admit = async (from: number) =>
      (await beginUpdates(db, all.slice(from), () => STARTED, limits)).map((r) => r.endpoint);

    // In the order given, up to the in-flight limit; nothing more while those are active.
    expect(await admit(0)).toEqual(['dev-0', 'dev-1', 'dev-2']);
    expect(await admit(3)).toEqual([]);
    // They finish: the rate limit (5 a minute, by admitted_at) leaves room for two, whatever the
    // rows' created_at (the planner's clock, an hour behind here) says.
    await finishAll(db);
    expect(await admit(3)).toEqual(['dev-3', 'dev-4']);
    await finishAll(db);
    expect(await admit(5)).toEqual([]);
    // A minute later by the database's clock: room again.
    await sql`update firmware_updates set admitted_at = admitted_at - interval '61 seconds'`.execute(db);
    expect(await admit(5)).toEqual(['dev-5', 'dev-6', 'dev-7']);
    // Only admitted rows got their event.
    const events = await db
      .selectFrom('events')
      .select('endpoint')
      .where('type', '=', 'UpdateStarted')
      .execute();
    expect(events).toHaveLength(8);
  });
});
