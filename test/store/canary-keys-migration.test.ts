import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { endpointHash } from '../../controller/reconcile/read/canary-order.js';
import { migratorOf, testBackends } from '../helpers/databases.js';

describe.each(testBackends)('migration 0002 (canary keys) on $name', (backend) => {
  it('fills the generated columns of devices that were there before it', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0001-initial')).error).toBeUndefined();
      await sql`insert into devices (endpoint, firmware_version, updated_at)
        values ('old-1', '1.2.3', now()), ('old-2', null, now())`.execute(store.db);
      // Migration 0008 replaces firmware_version_parts: read it as 0002 left it.
      expect((await migrator.migrateTo('0002-canary-keys')).error).toBeUndefined();
      const { rows } = await sql<{
        endpoint: string;
        canary_hash: number;
        firmware_version_parts: (number | string)[] | null;
      }>`select endpoint, canary_hash, firmware_version_parts from devices order by endpoint`.execute(
        store.db,
      );
      expect(
        rows.map((r) => ({ ...r, firmware_version_parts: r.firmware_version_parts?.map(String) ?? null })),
      ).toEqual([
        { endpoint: 'old-1', canary_hash: endpointHash('old-1'), firmware_version_parts: ['1', '2', '3'] },
        { endpoint: 'old-2', canary_hash: endpointHash('old-2'), firmware_version_parts: null },
      ]);
    } finally {
      await store.close();
    }
  });

  it('keeps the version parts up to date, and accepts any dotted number a device reports', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0002-canary-keys')).error).toBeUndefined();
      await store.db
        .insertInto('devices')
        .values({ endpoint: 'ep', firmware_version: '2.0', updated_at: new Date() })
        .execute();
      const parts = async (version: string | null) => {
        await store.db.updateTable('devices').set({ firmware_version: version }).execute();
        const { rows } = await sql<{
          firmware_version_parts: (number | string)[] | null;
        }>`select firmware_version_parts from devices`.execute(store.db);
        const row = rows[0]!;
        // numeric[]: pg reads numbers, PGlite strings.
        return row.firmware_version_parts?.map(String) ?? null;
      };
      expect(await parts('2.0')).toEqual(['2', '0']);
      // Past 2^31: a plain int[] would refuse the write; numeric compares it like the numbers it is.
      expect(await parts('99999999999.1.2.3')).toEqual(['99999999999', '1', '2', '3']);
      for (const notNumeric of ['1.2.3.4.5', 'v1.2', '1..2', '', null])
        expect(await parts(notNumeric)).toBeNull();
      // The generated columns cannot be written by anyone.
      await expect(sql`update devices set canary_hash = 1`.execute(store.db)).rejects.toThrow();
    } finally {
      await store.close();
    }
  });
});
