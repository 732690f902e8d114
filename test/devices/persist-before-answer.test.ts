import { describe, expect, it } from 'vitest';
import { type DeviceSync, startDeviceSync } from '../../controller/devices/index.js';
import { Lwm2mServer } from '../../controller/lwm2m/index.js';
import { testBackends } from '../helpers/databases.js';
import { locationOf, RawDevice } from '../lwm2m/support/raw-device.js';
import { ChangeLog, uniqueEndpoint } from './helpers.js';

describe.each(testBackends)('registrations persisted before they are answered ($name)', (backend) => {
  it('writes each Register and Update once, with an event for the Update that changed something', async () => {
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
      const id = locationOf(registered)[1]!;
      expect((await device.update(id, ['lt=600'])).code).toBe('2.04');
      // A keep-alive: the row moves (last_seen_at, expires_at), no event.
      expect((await device.update(id)).code).toBe('2.04');
      await changes.waitFor(endpoint, (why) => why.kind === 'info');
      await sync.stop();
      const events = await db.db
        .selectFrom('events')
        .select(['type', 'details'])
        .where('endpoint', '=', endpoint)
        .orderBy('id')
        .execute();
      const source = `127.0.0.1:${device.port}`;
      expect(events).toEqual([
        { type: 'DeviceRegistered', details: expect.objectContaining({ source }) },
        {
          type: 'DeviceRegistrationUpdated',
          details: { source, changes: { lifetime: { from: 300, to: 600 } } },
        },
      ]);
      const kinds = changes.seen.filter((c) => c.endpoint === endpoint).map((c) => c.why.kind);
      expect(kinds.filter((k) => k === 'registered')).toHaveLength(1);
      expect(kinds.filter((k) => k === 'updated')).toHaveLength(2);
    } finally {
      await device.close();
      await sync.stop();
      await server.stop();
      await db.close();
    }
  });
});
