import { describe, expect, it } from 'vitest';
import { type DeviceSync, startDeviceSync } from '../../controller/devices/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/index.js';
import { testBackends } from '../helpers/databases.js';
import { locationOf, RawDevice } from '../lwm2m/support/raw-device.js';
import { ChangeLog, uniqueEndpoint } from './helpers.js';

describe.each(testBackends)('registrations persisted before they are answered ($name)', (backend) => {
  it('writes each Register and Update once: one row, one DeviceRegistered event', async () => {
    const db = await backend.open();
    const changes = new ChangeLog();
    let sync: DeviceSync | undefined;
    const server = await Lwm2mServer.start({
      port: 0,
      host: '127.0.0.1',
      expirySweepMs: 0,
      beforeAnswer: (change) => sync!.persistBeforeAnswer(change),
    });
    sync = startDeviceSync({ server, db: db.db, onDeviceChanged: (ep, why) => changes.record(ep, why) });
    const device = await RawDevice.open(server.address().port);
    const endpoint = uniqueEndpoint('persist');
    try {
      // Object 3 unknown: the interrogation is one read, answered 4.04.
      void (async () => {
        for (;;) device.answer(await device.nextRequest(), '4.04');
      })();
      const registered = await device.register([`ep=${endpoint}`, 'lt=300'], '</1/0>');
      expect(registered.code).toBe('2.01');
      // Answered after the commit: the row is there now.
      const row = await db.db
        .selectFrom('devices')
        .select(['registration_id', 'registration_state'])
        .where('endpoint', '=', endpoint)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ registration_id: locationOf(registered)[1], registration_state: 'registered' });
      const updated = await device.update(locationOf(registered)[1]!, ['lt=600']);
      expect(updated.code).toBe('2.04');
      await changes.waitFor(endpoint, (why) => why.kind === 'updated');
      await changes.waitFor(endpoint, (why) => why.kind === 'info');
      await sync.stop();
      const events = await db.db
        .selectFrom('events')
        .select('type')
        .where('endpoint', '=', endpoint)
        .orderBy('id')
        .execute();
      expect(events.map((e) => e.type)).toEqual(['DeviceRegistered']);
      const kinds = changes.seen.filter((c) => c.endpoint === endpoint).map((c) => c.why.kind);
      expect(kinds.filter((k) => k === 'registered')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'updated')).toHaveLength(1);
    } finally {
      await device.close();
      await sync.stop();
      await server.stop();
      await db.close();
    }
  });
});
