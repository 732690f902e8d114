import { afterEach, describe, expect, it } from 'vitest';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, firmwareManifest, rolloutManifests, Scene } from '../helpers/rollout-fixture.js';
import { locationOf, RawDevice } from '../lwm2m/support/raw-device.js';
import { getJson, httpRequest } from './http-client.js';
import { openSse } from './sse-client.js';

// An attacker who learned a device's registration id (an old event, a log line) sends an Update to
// /rd/<id> from its own socket. Before: the controller moved the device there, sent the Execute to
// the attacker and recorded the update succeeded while the device stayed on 1.0.0.

interface EventJson {
  readonly id: number;
  readonly type: string;
  readonly endpoint: string | null;
  readonly details: Record<string, unknown>;
}

describe.each(testBackends)('a leaked registration id ($name)', (backend) => {
  let scene: Scene | undefined;
  const sockets: RawDevice[] = [];
  afterEach(async () => {
    await Promise.all(sockets.splice(0).map((s) => s.close()));
    await scene?.close();
    scene = undefined;
  });

  it('moves nothing: the update reaches the real device and the attacker hears nothing', async () => {
    scene = await Scene.create(backend);
    const target = await scene.ws.addFirmware('2.0.0');
    await scene.ws.writeManifest('firmware.yaml', firmwareManifest(target));
    const controller = await scene.startController();
    const fleet = await scene.addFleet({ count: 1 });
    await scene.devicesKnown(1);
    const real = fleet.devices[0]!;
    const { registration_id: id } = await scene.db
      .selectFrom('devices')
      .select('registration_id')
      .where('endpoint', '=', 'sim-000001')
      .executeTakeFirstOrThrow();

    const attacker = await RawDevice.open(controller.coapPort!);
    sockets.push(attacker);
    expect((await attacker.update(id!, ['lt=86400'])).code).toBe('4.04');
    expect((await attacker.deregister(id!)).code).toBe('4.04');
    let heard = 0;
    attacker.pipe.events.on('message', () => heard++);

    expect(controller.lwm2m.registration('sim-000001')).toMatchObject({ id, port: real.port });
    const stored = await scene.db
      .selectFrom('devices')
      .select(['port', 'registration_state'])
      .where('endpoint', '=', 'sim-000001')
      .executeTakeFirstOrThrow();
    expect(stored).toEqual({ port: real.port, registration_state: 'registered' });

    await scene.ws.writeManifest(
      'firmware.yaml',
      rolloutManifests({
        firmware: target,
        rollout: 'forged',
        spec: '  strategy:\n    failureThreshold: { percent: 100, minUpdates: 1000 }\n',
      }),
    );
    await afterPassWhen(controller, async () => {
      const row = await scene!.db
        .selectFrom('rollouts')
        .select('phase')
        .where('name', '=', 'forged')
        .executeTakeFirst();
      return row?.phase === 'Completed';
    });
    expect(real.firmwareVersion).toBe('2.0.0');
    const updates = await scene.db.selectFrom('firmware_updates').select(['endpoint', 'phase']).execute();
    expect(updates).toEqual([{ endpoint: 'sim-000001', phase: 'succeeded' }]);
    expect(heard).toBe(0);

    const metrics = await httpRequest(controller.httpPort, '/metrics');
    expect(metrics.body).toMatch(/^otactl_registrations_total\{kind="update-refused"\} 1$/m);
    expect(metrics.body).toMatch(/^otactl_registrations_total\{kind="deregister-refused"\} 1$/m);
    // 96 random bits: not guessable either.
    expect(id).toMatch(/^[A-Za-z0-9_-]{16}$/);
  });

  it('is never shown: events, the event stream and the device carry no registration id', async () => {
    scene = await Scene.create(backend);
    const controller = await scene.startController();
    const device = await RawDevice.open(controller.coapPort!);
    sockets.push(device);
    // Answers the controller's reads with 4.04 (no object 3): enough to be registered.
    void (async () => {
      for (;;) device.answer(await device.nextRequest(), '4.04');
    })().catch(() => {});
    const registered = await device.register(['ep=private-1', 'lt=300', 'lwm2m=1.1'], '</1/0>');
    const id = locationOf(registered)[1]!;
    expect((await device.update(id, ['lt=600'])).code).toBe('2.04');
    expect((await device.register(['ep=private-1', 'lt=600', 'lwm2m=1.1'], '</1/0>')).code).toBe('2.01');
    const idAgain = (await scene.db
      .selectFrom('devices')
      .select('registration_id')
      .where('endpoint', '=', 'private-1')
      .executeTakeFirstOrThrow())!.registration_id!;
    expect((await device.deregister(idAgain)).code).toBe('2.02');
    const source = `127.0.0.1:${device.port}`;
    const eventsOf = async () =>
      (await getJson<{ events: EventJson[] }>(controller.httpPort, '/api/v1/events?endpoint=private-1')).body
        .events;
    await afterPassWhen(controller, async () =>
      (await eventsOf()).some((e) => e.type === 'DeviceDeregistered'),
    );
    // An event stored by an earlier version, which still wrote the ids.
    await scene.db
      .insertInto('events')
      .values({
        endpoint: 'private-1',
        type: 'DeviceRegistered',
        message: 'registered earlier',
        details: JSON.stringify({
          registrationId: id,
          source: '192.0.2.1:5683',
          previous: { registrationId: 'x' },
        }),
      })
      .execute();
    const page = { events: await eventsOf() };
    const lastId = page.events.at(-1)!.id;
    const stream = await openSse(controller.httpPort, '/api/v1/events/stream?since=0');
    try {
      await stream.next((m) => m.id === String(lastId));
      const streamed = stream.received.map((m) => m.data).join('\n');
      for (const text of [
        streamed,
        (await httpRequest(controller.httpPort, '/api/v1/events?limit=1000')).body,
        (await httpRequest(controller.httpPort, '/api/v1/devices')).body,
        (await httpRequest(controller.httpPort, '/api/v1/devices/private-1')).body,
      ]) {
        expect(text).not.toContain(id);
        expect(text).not.toContain(idAgain);
        expect(text).not.toContain('registrationId');
      }
    } finally {
      stream.close();
    }
    expect(page.events.map((e) => [e.type, e.details.source])).toEqual([
      ['DeviceRegistered', source],
      ['DeviceRegistrationUpdated', source],
      ['DeviceRegistered', source],
      ['DeviceDeregistered', source],
      ['DeviceRegistered', '192.0.2.1:5683'],
    ]);
    expect(page.events.at(-1)!.details).toEqual({ source: '192.0.2.1:5683', previous: {} });
  });
});
