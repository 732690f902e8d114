import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import {
  deviceEvents,
  deviceRow,
  hasResult,
  isInfo,
  isResult,
  isState,
  MODEL,
  NEW,
  OLD,
  registerAndInterrogate,
  START,
  type SyncEnv,
  startEnv,
  startImageServer,
} from './helpers.js';

function events(env: SyncEnv, endpoint: string) {
  return env.db.db.selectFrom('events').selectAll().where('endpoint', '=', endpoint).orderBy('id').execute();
}

describe.each(testBackends)('device sync ($name)', (backend) => {
  let env: SyncEnv;
  let images: Awaited<ReturnType<typeof startImageServer>>;

  beforeAll(async () => {
    env = await startEnv(backend);
    images = await startImageServer();
  });

  afterAll(async () => {
    await env.close();
    await images.close();
  });

  it('stores a registering device with its registration, object 3 and object 5 info, and an event', async () => {
    const device = env.device();
    await registerAndInterrogate(env, device);
    const r = await deviceRow(env, device.endpoint);
    expect(r).toMatchObject({
      registration_id: device.location!.replace('/rd/', ''),
      registration_state: 'registered',
      address: '127.0.0.1',
      port: device.port,
      lifetime_s: 300,
      binding: 'U',
      queue_mode: false,
      lwm2m_version: '1.1',
      sms_number: null,
      manufacturer: 'otactl',
      model: MODEL,
      serial_number: device.endpoint,
      firmware_version: OLD,
      hardware_version: '1.0',
      device_type: 'simulator',
      fw_protocol_support: [0, 2, 3],
      fw_delivery_method: 0,
      fw_state: 0,
      fw_result: 0,
    });
    expect(r.object_links).toContain('</5/0>');
    // Observed once, in the server's registry: the firmware instance, for State and Update Result.
    const observed = [...env.server.observations.of(device.endpoint)].map((o) => o.path);
    expect(observed).toEqual(['/5/0']);
    expect(r.registered_at?.getTime()).toBe(START);
    expect(r.last_seen_at?.getTime()).toBe(START);
    expect(r.expires_at?.getTime()).toBe(START + 300_000);
    expect(r.info_read_at?.getTime()).toBe(START);
    expect(r.fw_reported_at?.getTime()).toBe(START);
    const log = await events(env, device.endpoint);
    expect(log.map((e) => e.type)).toEqual(['DeviceRegistered']);
    expect(log[0]!.message).toBe(`registered from 127.0.0.1:${device.port} (LwM2M 1.1, lifetime 300 s)`);
    expect(log[0]!.details).toMatchObject({ port: device.port, lwm2mVersion: '1.1', lifetime: 300 });
  });

  it('stores the State and Update Result a registering device reports in one write, never one without the other', async () => {
    // The planner decides on the two together (a download lost in a restart: Result 4, or Result 0
    // and only the restart to go by); a pass between two writes saw a State beside an older Result.
    const device = env.device();
    const since = env.changes.length;
    await registerAndInterrogate(env, device);
    const reports = env.changes.seen
      .slice(since)
      .filter((c) => c.endpoint === device.endpoint && c.why.kind === 'firmware-state');
    expect(reports.map((c) => c.why)).toEqual([{ kind: 'firmware-state', state: 0, result: 0 }]);
  });

  it('stores every State and Update Result notification', async () => {
    const device = env.device();
    await registerAndInterrogate(env, device);
    const client = env.server.device(device.endpoint);
    let since = env.changes.length;
    env.clock.now = START + 5000;
    // A relative URI without a download base is refused: State stays 0, Result 7 (invalid URI).
    expect((await client.write('/5/0/1', '/binaries/x')).kind).toBe('ok');
    await env.changes.waitFor(device.endpoint, isResult(7), since);
    let r = await deviceRow(env, device.endpoint);
    expect([r.fw_state, r.fw_result, r.fw_reported_at?.getTime()]).toEqual([0, 7, START + 5000]);

    since = env.changes.length;
    env.clock.now = START + 6000;
    expect((await client.write('/5/0/1', `${images.baseUrl}/hang`)).kind).toBe('ok');
    await env.changes.waitFor(device.endpoint, isState(1), since);
    await env.changes.waitFor(device.endpoint, isResult(0), since);
    r = await deviceRow(env, device.endpoint);
    expect([r.fw_state, r.fw_result, r.fw_reported_at?.getTime()]).toEqual([1, 0, START + 6000]);
    expect((await client.write('/5/0/1', '')).kind).toBe('ok');
    env.clock.now = START;
  });

  it('reads the firmware state and version on request and has stored them when it answers', async () => {
    // A stub client: enters Downloading without a notification.
    const device = env.device({ faults: new Map([['silent-download', undefined]]) });
    await registerAndInterrogate(env, device);
    const client = env.server.device(device.endpoint);
    expect((await client.write('/5/0/1', `${images.baseUrl}/hang`)).kind).toBe('ok');
    env.clock.now = START + 7000;
    const state = await env.sync.readFirmwareState(device.endpoint);
    expect(state).toEqual({ kind: 'ok', state: 1, result: 0, reportedAt: START + 7000 });
    let r = await deviceRow(env, device.endpoint);
    expect([r.fw_state, r.fw_result, r.fw_reported_at?.getTime()]).toEqual([1, 0, START + 7000]);

    env.clock.now = START + 8000;
    expect(await env.sync.readFirmwareVersion(device.endpoint)).toEqual({
      kind: 'ok',
      firmwareVersion: OLD,
      readAt: START + 8000,
    });
    r = await deviceRow(env, device.endpoint);
    expect([r.firmware_version, r.info_read_at?.getTime()]).toEqual([OLD, START + 8000]);
    expect((await env.sync.readFirmwareState('no-such-device')).kind).toBe('unreachable');
    expect((await client.write('/5/0/1', '')).kind).toBe('ok');
    env.clock.now = START;
  });

  it('follows an update: the device re-registers from a new port, the version change is an event, observations are set up again', async () => {
    const seen = deviceEvents();
    const device = env.device({ onEvent: seen.onEvent });
    await registerAndInterrogate(env, device);
    const client = env.server.device(device.endpoint);
    const firstPort = device.port;
    const firstId = (await deviceRow(env, device.endpoint)).registration_id;

    const downloaded = env.changes.waitFor(device.endpoint, isState(2), env.changes.length);
    expect((await client.write('/5/0/1', `${images.baseUrl}/fw/good`)).kind).toBe('ok');
    await downloaded;
    const since = env.changes.length;
    const reregistered = seen.next('registered');
    expect((await client.execute('/5/0/2')).kind).toBe('ok');
    await reregistered;
    await env.changes.waitFor(device.endpoint, isInfo, since);
    await env.changes.waitFor(device.endpoint, hasResult, since);

    const r = await deviceRow(env, device.endpoint);
    expect(device.port).not.toBe(firstPort);
    expect(r.port).toBe(device.port);
    expect(r.registration_id).not.toBe(firstId);
    expect(r.registration_id).toBe(device.location!.replace('/rd/', ''));
    expect([r.firmware_version, r.fw_state, r.fw_result]).toEqual([NEW, 0, 1]);
    const log = await events(env, device.endpoint);
    expect(log.map((e) => e.type)).toEqual([
      'DeviceRegistered',
      'DeviceRegistered',
      'FirmwareVersionChanged',
    ]);
    expect(log[1]!.message).toContain(`replacing the registration from 127.0.0.1:${firstPort}`);
    expect(log[2]!.details).toEqual({ from: OLD, to: NEW });

    // Only an observation made after the re-registration can carry this to the database.
    const after = env.changes.length;
    expect((await client.write('/5/0/1', `${images.baseUrl}/hang`)).kind).toBe('ok');
    await env.changes.waitFor(device.endpoint, isState(1), after);
    expect((await deviceRow(env, device.endpoint)).fw_state).toBe(1);
    expect((await client.write('/5/0/1', '')).kind).toBe('ok');
  });

  it('records an Update: new lifetime, last seen and expiry', async () => {
    const seen = deviceEvents();
    const device = env.device({ onEvent: seen.onEvent });
    await registerAndInterrogate(env, device);
    env.clock.now = START + 60_000;
    const since = env.changes.length;
    const updated = seen.next('updated');
    // 1/0/8 makes the device send an Update now.
    expect((await env.server.device(device.endpoint).execute('/1/0/8')).kind).toBe('ok');
    await updated;
    await env.changes.waitFor(device.endpoint, (w) => w.kind === 'updated', since);
    const r = await deviceRow(env, device.endpoint);
    expect(r.last_seen_at?.getTime()).toBe(START + 60_000);
    expect(r.expires_at?.getTime()).toBe(START + 360_000);
    expect(r.registered_at?.getTime()).toBe(START);
    env.clock.now = START;
  });

  it('marks a de-registered device and appends DeviceDeregistered', async () => {
    const device = env.device();
    await registerAndInterrogate(env, device);
    const since = env.changes.length;
    await device.stop();
    await env.changes.waitFor(device.endpoint, (w) => w.kind === 'deregistered', since);
    expect((await deviceRow(env, device.endpoint)).registration_state).toBe('deregistered');
    expect((await events(env, device.endpoint)).map((e) => e.type)).toEqual([
      'DeviceRegistered',
      'DeviceDeregistered',
    ]);
  });

  it('marks an expired registration and appends DeviceExpired', async () => {
    const device = env.device();
    await registerAndInterrogate(env, device);
    const since = env.changes.length;
    env.clock.now = START + 301_000;
    const expired = env.server.expire(env.clock.now).map((r) => r.endpoint);
    env.clock.now = START;
    expect(expired).toContain(device.endpoint);
    await env.changes.waitFor(device.endpoint, (w) => w.kind === 'expired', since);
    const r = await deviceRow(env, device.endpoint);
    expect(r.registration_state).toBe('expired');
    const log = await events(env, device.endpoint);
    expect(log.at(-1)?.type).toBe('DeviceExpired');
    expect(log.at(-1)?.message).toContain('lifetime of 300 s');
  });

  it('calls onDeviceChanged only once the row it reports is readable', async () => {
    const checks: Promise<string | undefined>[] = [];
    const watched = await startEnv(backend, {
      onChanged: (endpoint, why) => {
        if (why.kind !== 'registered' && why.kind !== 'info') return;
        checks.push(
          watched.db.db
            .selectFrom('devices')
            .select(['registration_id', 'info_read_at', 'firmware_version'])
            .where('endpoint', '=', endpoint)
            .executeTakeFirst()
            .then((r) => {
              if (r === undefined) return `${endpoint}: no row at ${why.kind}`;
              if (why.kind === 'registered' && r.registration_id !== why.registrationId) {
                return `${endpoint}: registration ${r.registration_id}, expected ${why.registrationId}`;
              }
              if (why.kind === 'info' && r.info_read_at === null) return `${endpoint}: info not stored yet`;
              return undefined;
            }),
        );
      },
    });
    try {
      const devices = Array.from({ length: 20 }, () => watched.device());
      await Promise.all(devices.map((d) => registerAndInterrogate(watched, d)));
      const problems = (await Promise.all(checks)).filter((p) => p !== undefined);
      expect(checks.length).toBeGreaterThanOrEqual(40);
      expect(problems).toEqual([]);
    } finally {
      await watched.close();
    }
  });
});
