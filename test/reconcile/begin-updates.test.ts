import { describe, expect, it } from 'vitest';
import { beginUpdates } from '../../controller/reconcile/write/update-store.js';
import { testBackends } from '../helpers/databases.js';

describe.each(testBackends)('starting updates in one statement on $name', (backend) => {
  it('skips devices that already have an active update and records one event per started update', async () => {
    const store = await backend.open();
    try {
      const db = store.db;
      const devices = await db
        .insertInto('devices')
        .values(['a', 'b', 'c'].map((endpoint) => ({ endpoint, updated_at: new Date() })))
        .returning(['id', 'endpoint'])
        .execute();
      const row = (d: { id: number; endpoint: string }, rollout: string) => ({
        device_id: d.id,
        endpoint: d.endpoint,
        rollout,
        firmware: 'fw',
        target_version: '2.0.0',
        attempt: 1,
        phase_changed_at: new Date(),
      });
      const event = () => ({ type: 'UpdateStarted', message: 'started' });
      const first = await beginUpdates(db, [row(devices[1]!, 'other')], event);
      expect(first).toHaveLength(1);
      const second = await beginUpdates(
        db,
        devices.map((d) => row(d, 'mine')),
        event,
      );
      expect(second.map((r) => r.endpoint).sort()).toEqual(['a', 'c']);
      const active = await db
        .selectFrom('firmware_updates')
        .select(['endpoint', 'rollout'])
        .where('finished_at', 'is', null)
        .orderBy('endpoint')
        .execute();
      expect(active).toEqual([
        { endpoint: 'a', rollout: 'mine' },
        { endpoint: 'b', rollout: 'other' },
        { endpoint: 'c', rollout: 'mine' },
      ]);
      const events = await db.selectFrom('events').select(['endpoint', 'update_id']).orderBy('id').execute();
      expect(events.map((e) => e.endpoint)).toEqual(['b', 'a', 'c']);
      expect(events.every((e) => e.update_id !== null)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
