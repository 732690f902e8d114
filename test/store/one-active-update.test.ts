import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { beginUpdates, type NewUpdate } from '../../controller/reconcile/write/update-store.js';
import type { Database, FirmwareUpdateRow, OpenDatabase } from '../../controller/store/index.js';
import { testBackends } from '../helpers/databases.js';

async function insertDevice(db: Kysely<Database>, endpoint: string): Promise<number> {
  const row = await db
    .insertInto('devices')
    .values({ endpoint, updated_at: new Date() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

function newUpdate(deviceId: number, rollout: string): NewUpdate {
  return {
    device_id: deviceId,
    endpoint: 'dev-1',
    rollout,
    firmware: 'fw-2.0.0',
    target_version: '2.0.0',
    attempt: 1,
    phase_changed_at: new Date(),
  };
}

/** The updates' one writer, for one device: the row it inserted, or undefined when another update is active. */
async function startUpdate(db: Kysely<Database>, update: NewUpdate): Promise<FirmwareUpdateRow | undefined> {
  const rows = await beginUpdates(db, [update], () => ({ type: 'UpdateStarted', message: 'started' }));
  return rows[0];
}

async function activeCount(store: OpenDatabase, deviceId: number): Promise<number> {
  const rows = await store.db
    .selectFrom('firmware_updates')
    .select('id')
    .where('device_id', '=', deviceId)
    .where('finished_at', 'is', null)
    .execute();
  return rows.length;
}

describe.each(testBackends)('one active update per device on $name', (backend) => {
  it('lets only one of two concurrent starts for a device win', async () => {
    const store = await backend.open({ poolSize: 4 });
    try {
      const deviceId = await insertDevice(store.db, 'dev-1');
      // On Postgres the two inserts run on two pool connections at once; the index decides.
      const outcomes = await Promise.all([
        startUpdate(store.db, newUpdate(deviceId, 'a')),
        startUpdate(store.db, newUpdate(deviceId, 'b')),
      ]);
      expect(outcomes.filter((o) => o !== undefined)).toHaveLength(1);
      expect(await activeCount(store, deviceId)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('allows a new update once the previous one has finished', async () => {
    const store = await backend.open();
    try {
      const deviceId = await insertDevice(store.db, 'dev-1');
      const first = await startUpdate(store.db, newUpdate(deviceId, 'a'));
      expect(first).toBeDefined();
      await store.db
        .updateTable('firmware_updates')
        .set({ phase: 'failed', result: 4, finished_at: new Date() })
        .where('id', '=', first!.id)
        .execute();
      const second = await startUpdate(store.db, { ...newUpdate(deviceId, 'a'), attempt: 2 });
      expect(second?.attempt).toBe(2);
      expect(await activeCount(store, deviceId)).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('refuses a finished phase without a finish time, and an active phase with one', async () => {
    const store = await backend.open();
    try {
      const deviceId = await insertDevice(store.db, 'dev-1');
      await expect(
        store.db
          .insertInto('firmware_updates')
          .values({ ...newUpdate(deviceId, 'a'), phase: 'succeeded', finished_at: null })
          .execute(),
      ).rejects.toThrow(/firmware_updates_finished_consistent/);
      await expect(
        store.db
          .insertInto('firmware_updates')
          .values({ ...newUpdate(deviceId, 'a'), phase: 'downloading', finished_at: new Date() })
          .execute(),
      ).rejects.toThrow(/firmware_updates_finished_consistent/);
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!testBackends.some((b) => b.name === 'postgres'))(
  'one active update under load on postgres',
  () => {
    it('holds with many concurrent starts across connections', async () => {
      const backend = testBackends.find((b) => b.name === 'postgres')!;
      const store = await backend.open({ poolSize: 8 });
      try {
        const deviceIds = await Promise.all(
          Array.from({ length: 20 }, (_, i) => insertDevice(store.db, `dev-${i}`)),
        );
        const attempts = deviceIds.flatMap((id) =>
          Array.from({ length: 5 }, (_, k) => startUpdate(store.db, newUpdate(id, `r${k}`))),
        );
        const outcomes = await Promise.all(attempts);
        expect(outcomes.filter((o) => o !== undefined)).toHaveLength(deviceIds.length);
        for (const id of deviceIds) expect(await activeCount(store, id)).toBe(1);
      } finally {
        await store.close();
      }
    });
  },
);
