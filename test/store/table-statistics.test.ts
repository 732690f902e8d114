import { type Kysely, sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRollout } from '../../controller/reconcile/read/load-observation.js';
import { analyzeChangedTables, type Database, type OpenDatabase } from '../../controller/store/index.js';
import { TEST_DATABASE_URL, testBackends } from '../helpers/databases.js';
import { resolvedRollout } from '../helpers/resolved-rollout.js';

const postgres = testBackends.find((b) => b.name === 'postgres');

/**
 * `devices` registered devices read on 1.0.0 or 2.0.0, the first `done` with a succeeded update
 * of rollout `r`, the next `inFlight` downloading. The inserting backend flushes its table
 * statistics at once (they are otherwise sent within a second).
 */
async function seedMidRollout(db: Kysely<Database>, devices: number, done: number, inFlight: number) {
  await db.transaction().execute(async (trx) => {
    await sql`
      insert into devices (endpoint, registration_id, registration_state, address, port, lifetime_s,
        binding, lwm2m_version, registered_at, last_seen_at, expires_at, model, firmware_version,
        info_read_at, fw_state, fw_result, updated_at)
      select 'dev-' || lpad(i::text, 5, '0'), 'r' || i, 'registered', '127.0.0.1', 10000 + i, 3600, 'U',
        '1.1', now(), now(), now() + interval '1 hour', 'm', case when i <= ${done} then '2.0.0' else '1.0.0' end,
        now(), case when i > ${done} and i <= ${done + inFlight} then 1 else 0 end, 0, now()
      from generate_series(1, ${devices}) as i`.execute(trx);
    await sql`
      insert into firmware_updates (device_id, endpoint, rollout, firmware, target_version, from_version,
        attempt, phase, state, result, created_at, phase_changed_at, finished_at)
      select d.id, d.endpoint, 'r', 'fw', '2.0.0', '1.0.0', 1,
        case when d.firmware_version = '2.0.0' then 'succeeded' else 'downloading' end,
        d.fw_state, 0, now() - interval '2 minutes', now(),
        case when d.firmware_version = '2.0.0' then now() else null end
      from devices d where d.firmware_version = '2.0.0' or d.fw_state = 1`.execute(trx);
    await sql`select pg_stat_force_next_flush()`.execute(trx);
  });
}

async function estimatedRows(db: Kysely<Database>, table: string): Promise<number> {
  const r = await sql<{ n: number }>`
    select reltuples::int as n from pg_class where oid = to_regclass(${table})`.execute(db);
  return Number(r.rows[0]?.n);
}

describe.skipIf(!TEST_DATABASE_URL)('table statistics of the fast-changing tables (Postgres)', () => {
  let store: OpenDatabase;
  beforeEach(async () => {
    store = await postgres!.open();
  });
  afterEach(() => store.close());

  it('analyzes a table changed by more than autovacuum would wait for, and not again until it changes', async () => {
    expect(await analyzeChangedTables(store.db)).toEqual([]);
    await seedMidRollout(store.db, 400, 100, 200);

    expect(await analyzeChangedTables(store.db)).toEqual(['devices', 'firmware_updates']);
    expect(await estimatedRows(store.db, 'devices')).toBe(400);
    expect(await estimatedRows(store.db, 'firmware_updates')).toBe(300);
    expect(await analyzeChangedTables(store.db)).toEqual([]);

    // 50 rows and a tenth of the table changed: not yet; one more row: yes.
    const touch = async (n: number) =>
      store.db.transaction().execute(async (trx) => {
        await sql`update devices set updated_at = now() where id in (select id from devices order by id limit ${n})`.execute(
          trx,
        );
        await sql`select pg_stat_force_next_flush()`.execute(trx);
      });
    await touch(90);
    expect(await analyzeChangedTables(store.db)).toEqual([]);
    await touch(1);
    expect(await analyzeChangedTables(store.db)).toEqual(['devices']);
  });

  it('leaves what the rollout read counts unchanged: only the plan changes', async () => {
    await seedMidRollout(store.db, 600, 200, 250);
    const rollout = resolvedRollout({ strategy: { maxInFlight: 600, maxPerMinute: 10_000 } });
    const now = Date.now();
    const before = await readRollout(store.db, rollout, [], now);
    expect(await analyzeChangedTables(store.db)).toEqual(['devices', 'firmware_updates']);
    const after = await readRollout(store.db, rollout, [], now);
    expect(after).toEqual(before);
    expect(before.observation.counts).toMatchObject({ selected: 600, succeeded: 200, inFlight: 250 });
    expect(before.candidates).toHaveLength(150);
  });
});
