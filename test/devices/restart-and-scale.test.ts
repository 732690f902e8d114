import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadRegistrations } from '../../controller/devices/index.js';
import { SimDevice, startFleet } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import {
  deviceEvents,
  FAST_TIMING,
  isInfo,
  isState,
  MODEL,
  OLD,
  START,
  startEnv,
  startImageServer,
  uniqueEndpoint,
} from './helpers.js';

describe.each(testBackends)('device sync across restarts and at scale ($name)', (backend) => {
  it('restores stored registrations into a new server so the next Update gets 2.04 and observations resume', async () => {
    const db = await backend.open();
    const images = await startImageServer();
    const first = await startEnv(backend, { db });
    const port = first.server.address().port;
    const seen = deviceEvents();
    const device = new SimDevice({
      endpoint: uniqueEndpoint('restore'),
      server: { address: '127.0.0.1', port },
      model: MODEL,
      version: OLD,
      bindAddress: '127.0.0.1',
      timing: FAST_TIMING,
      onEvent: seen.onEvent,
    });
    let second: Awaited<ReturnType<typeof startEnv>> | undefined;
    try {
      await device.start();
      await first.changes.waitFor(device.endpoint, isInfo);
      await first.changes.waitFor(
        device.endpoint,
        (w) => w.kind === 'firmware-state' && w.result !== undefined,
      );
      await first.sync.stop();
      await first.server.stop();

      expect(await loadRegistrations(db.db, START + 301_000)).toEqual([]);
      const restored = await loadRegistrations(db.db, START + 1000);
      expect(restored.map((r) => r.endpoint)).toEqual([device.endpoint]);
      expect(restored[0]).toMatchObject({ id: device.location!.replace('/rd/', ''), port: device.port });

      second = await startEnv(backend, { db, port, restore: restored });
      await second.sync.resumed;
      // The old server's observations died with it; this arrives only through one set up at resume.
      const client = second.server.device(device.endpoint);
      expect((await client.write('/5/0/1', `${images.baseUrl}/hang`)).kind).toBe('ok');
      await second.changes.waitFor(device.endpoint, isState(1));
      const updated = seen.next('updated');
      const registeredAgain = seen.next('registered').then(() => 'registered again (4.04)' as const);
      // 1/0/8 makes the device send an Update now: the new server must know its registration.
      expect((await second.server.device(device.endpoint).execute('/1/0/8')).kind).toBe('ok');
      expect(await Promise.race([updated.then(() => 'updated (2.04)' as const), registeredAgain])).toBe(
        'updated (2.04)',
      );
      await second.changes.waitFor(device.endpoint, (w) => w.kind === 'updated');

      const row = await db.db
        .selectFrom('devices')
        .select(['fw_state', 'registration_state'])
        .where('endpoint', '=', device.endpoint)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ fw_state: 1, registration_state: 'registered' });
    } finally {
      await device.stop();
      await second?.close();
      await images.close();
      await db.close();
    }
  });

  it('marks devices whose registration ended while no controller ran as expired, with an event', async () => {
    const db = await backend.open();
    const endpoint = uniqueEndpoint('stale');
    await db.db
      .insertInto('devices')
      .values([
        {
          endpoint,
          registration_id: `${endpoint}-reg`,
          registration_state: 'registered',
          address: '2001:db8::7',
          port: 5683,
          lifetime_s: 60,
          last_seen_at: new Date(START - 120_000),
          expires_at: new Date(START - 60_000),
          updated_at: new Date(START - 120_000),
        },
        {
          endpoint: `${endpoint}-alive`,
          registration_id: `${endpoint}-alive-reg`,
          registration_state: 'registered',
          expires_at: new Date(START + 60_000),
          updated_at: new Date(START),
        },
      ])
      .execute();
    const env = await startEnv(backend, { db });
    try {
      await env.sync.resumed;
      expect(env.changes.seen).toEqual([
        { endpoint, why: { kind: 'expired', registrationId: `${endpoint}-reg` } },
      ]);
      const states = await db.db
        .selectFrom('devices')
        .select(['endpoint', 'registration_state'])
        .where('endpoint', 'like', `${endpoint}%`)
        .orderBy('endpoint')
        .execute();
      expect(states).toEqual([
        { endpoint, registration_state: 'expired' },
        { endpoint: `${endpoint}-alive`, registration_state: 'registered' },
      ]);
      const events = await db.db.selectFrom('events').selectAll().where('endpoint', '=', endpoint).execute();
      // Where it was last heard from; never the registration id (events are public).
      expect(events.map((e) => [e.type, e.details])).toEqual([
        ['DeviceExpired', { source: '[2001:db8::7]:5683', expiresAt: expect.any(String) }],
      ]);
    } finally {
      await env.close();
      await db.close();
    }
  });

  it('stores every device of a burst of 300 registering at once', async () => {
    const count = 300;
    const interrogated = new Set<string>();
    let allDone = () => {};
    const done = new Promise<void>((resolve) => {
      allDone = resolve;
    });
    const env = await startEnv(backend, {
      maxBatch: 64,
      onChanged: (endpoint, why) => {
        if (why.kind !== 'info') return;
        interrogated.add(endpoint);
        if (interrogated.size === count) allDone();
      },
    });
    const prefix = `${uniqueEndpoint('burst')}-`;
    const fleet = await startFleet({
      server: `coap://127.0.0.1:${env.server.address().port}`,
      count,
      prefix,
      version: OLD,
      model: MODEL,
      staggerMs: 0,
      bindAddress: '127.0.0.1',
      timing: FAST_TIMING,
    });
    try {
      await done;
      const stored = await env.db.db
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('endpoint', 'like', `${prefix}%`)
        .where('registration_state', '=', 'registered')
        .where('firmware_version', '=', OLD)
        .where('info_read_at', 'is not', null)
        .executeTakeFirstOrThrow();
      expect(Number(stored.n)).toBe(count);
      const registeredEvents = await env.db.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('endpoint', 'like', `${prefix}%`)
        .where('type', '=', 'DeviceRegistered')
        .executeTakeFirstOrThrow();
      expect(Number(registeredEvents.n)).toBe(count);
    } finally {
      await fleet.stop();
      await env.close();
    }
  });

  it('keeps writes queued through a database error, retries them, and reports the change only once committed', async () => {
    const env = await startEnv(backend);
    await sql`create function refuse_devices() returns trigger language plpgsql as $$
      begin raise exception 'induced failure'; end $$`.execute(env.db.db);
    await sql`create trigger refuse_devices before insert or update on devices
      for each row execute function refuse_devices()`.execute(env.db.db);
    const device = env.device();
    try {
      const failed = env.nextError();
      await device.start();
      await failed;
      expect(env.errors.map((e) => e.msg)).toContain('writing device changes failed; will retry');
      expect(env.changes.seen.filter((c) => c.endpoint === device.endpoint)).toEqual([]);

      await sql`drop trigger refuse_devices on devices`.execute(env.db.db);
      await env.changes.waitFor(device.endpoint, isInfo);
      const row = await env.db.db
        .selectFrom('devices')
        .select(['registration_state', 'firmware_version'])
        .where('endpoint', '=', device.endpoint)
        .executeTakeFirstOrThrow();
      expect(row).toEqual({ registration_state: 'registered', firmware_version: OLD });
      const types = await env.db.db
        .selectFrom('events')
        .select('type')
        .where('endpoint', '=', device.endpoint)
        .execute();
      expect(types.map((t) => t.type)).toEqual(['DeviceRegistered']);
    } finally {
      await env.close();
    }
  });
});
