import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { CODE_RANGES } from '../../controller/devices/reported-code.js';
import { migratorOf, testBackends } from '../helpers/databases.js';

describe.each(testBackends)('migration 0006 (reported codes) on $name', (backend) => {
  it('keeps codes stored before it that are outside the spec as raw text, and drops unknown 5/0/8, 5/0/9 values', async () => {
    const store = await backend.open({ migrate: false });
    try {
      const migrator = migratorOf(store);
      expect((await migrator.migrateTo('0005-url-signing-keys')).error).toBeUndefined();
      await sql`insert into devices
        (endpoint, fw_state, fw_result, fw_delivery_method, fw_protocol_support, lifetime_s, updated_at) values
        ('fine', 2, 11, 2, '{0,5}', 60, now()),
        ('bad', 32767, -5, 7, '{9,1,-1}', 0, now()),
        ('none', null, null, null, null, null, now())`.execute(store.db);
      const migrated = await migrator.migrateTo('0006-reported-codes');
      expect(migrated.error).toBeUndefined();
      expect(migrated.results?.map((r) => r.migrationName)).toEqual(['0006-reported-codes']);
      const rows = await store.db
        .selectFrom('devices')
        .select([
          'endpoint',
          'fw_state',
          'fw_state_raw',
          'fw_result',
          'fw_result_raw',
          'fw_delivery_method',
          'fw_protocol_support',
          'lifetime_s',
        ])
        .orderBy('endpoint')
        .execute();
      expect(rows).toEqual([
        {
          endpoint: 'bad',
          fw_state: null,
          fw_state_raw: '32767',
          fw_result: null,
          fw_result_raw: '-5',
          fw_delivery_method: null,
          fw_protocol_support: [1],
          lifetime_s: 1,
        },
        {
          endpoint: 'fine',
          fw_state: 2,
          fw_state_raw: null,
          fw_result: 11,
          fw_result_raw: null,
          fw_delivery_method: 2,
          fw_protocol_support: [0, 5],
          lifetime_s: 60,
        },
        {
          endpoint: 'none',
          fw_state: null,
          fw_state_raw: null,
          fw_result: null,
          fw_result_raw: null,
          fw_delivery_method: null,
          fw_protocol_support: null,
          lifetime_s: null,
        },
      ]);
    } finally {
      await store.close();
    }
  });

  it('holds every writer to the ranges reported-code.ts checks', async () => {
    const store = await backend.open();
    try {
      await store.db.insertInto('devices').values({ endpoint: 'ep', updated_at: new Date() }).execute();
      const write = (set: Record<string, unknown>) =>
        store.db.updateTable('devices').set(set).where('endpoint', '=', 'ep').execute();
      const cases: [string, { min: number; max: number }][] = [
        ['fw_state', CODE_RANGES.state],
        ['fw_result', CODE_RANGES.result],
        ['fw_delivery_method', CODE_RANGES.deliveryMethod],
      ];
      for (const [column, range] of cases) {
        await write({ [column]: range.min });
        await write({ [column]: range.max });
        await expect(write({ [column]: range.max + 1 })).rejects.toThrow(/check constraint/);
        await expect(write({ [column]: range.min - 1 })).rejects.toThrow(/check constraint/);
        await write({ [column]: null });
      }
      await write({ fw_protocol_support: sql`'{0,5}'::smallint[]` });
      await expect(write({ fw_protocol_support: sql`'{6}'::smallint[]` })).rejects.toThrow(
        /check constraint/,
      );
      await expect(write({ fw_state: 1, fw_state_raw: '9' })).rejects.toThrow(/check constraint/);
      await expect(write({ fw_result_raw: 'x'.repeat(65) })).rejects.toThrow(/check constraint/);
      await write({ fw_result_raw: 'x'.repeat(64) });
      await expect(write({ lifetime_s: 0 })).rejects.toThrow(/check constraint/);
    } finally {
      await store.close();
    }
  });
});
