import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migratorOf, testBackends } from '../helpers/databases.js';

describe.each(testBackends)('migration 0016 (update verifying) on $name', (backend) => {
  it('takes verifying with a bake deadline only, and counts Registers by registration id', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0015-device-owner')).error).toBeUndefined();
      const device = await sql<{ id: number }>`
        insert into devices (endpoint, registration_id, updated_at) values ('d1', 'reg-1', now()) returning id`.execute(
        store.db,
      );
      const id = device.rows[0]!.id;
      const insert = (phase: string, bake: boolean) => sql`insert into firmware_updates
        (device_id, endpoint, rollout, firmware, target_version, attempt, phase, phase_changed_at
         ${bake ? sql`, bake_until, bake_registrations` : sql``})
        values (${id}, 'd1', 'r', 'fw', '2.0.0', 1, ${phase}, now() ${bake ? sql`, now(), 0` : sql``})`;
      await expect(insert('verifying', false).execute(store.db)).rejects.toThrow(
        /firmware_updates_phase_known/,
      );

      expect((await migrator.migrateToLatest()).error).toBeUndefined();
      // verifying exactly when the bake columns are set.
      await expect(insert('verifying', false).execute(store.db)).rejects.toThrow(/bake_while_verifying/);
      await expect(insert('updating', true).execute(store.db)).rejects.toThrow(/bake_while_verifying/);
      await insert('verifying', true).execute(store.db);

      const registrations = async () =>
        (
          await store.db
            .selectFrom('devices')
            .select('registrations')
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).registrations;
      expect(await registrations()).toBe(0);
      // An Update (same id) and a notification (no id) are not Registers; a new id is one.
      await sql`update devices set registration_id = 'reg-1', last_seen_at = now() where id = ${id}`.execute(
        store.db,
      );
      await sql`update devices set fw_state = 0 where id = ${id}`.execute(store.db);
      expect(await registrations()).toBe(0);
      await sql`update devices set registration_id = 'reg-2' where id = ${id}`.execute(store.db);
      await sql`update devices set registration_id = 'reg-3' where id = ${id}`.execute(store.db);
      expect(await registrations()).toBe(2);

      await expect(
        sql`update devices set error_code = 33 where id = ${id}`.execute(store.db),
      ).rejects.toThrow(/devices_error_code_range/);

      await sql`delete from firmware_updates where phase = 'verifying'`.execute(store.db);
      expect((await migrator.migrateTo('0015-device-owner')).error).toBeUndefined();
    } finally {
      await store.close();
    }
  });
});
