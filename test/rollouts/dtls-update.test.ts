import { afterEach, describe, expect, it } from 'vitest';
import type { DeviceDetailView } from '../../controller/api/read-model/views.js';
import { PskKey, StaticCredentialDirectory } from '../../controller/credentials/index.js';
import { testBackends } from '../helpers/databases.js';
import { afterPassWhen, Scene, updatesOf } from '../helpers/rollout-fixture.js';
import { StrictFirmwareDevice } from './support/strict-firmware-device.js';

const PSK = { identity: 'strict-1-identity', key: 'strict-1-key-000' };
const credentials = new StaticCredentialDirectory([
  { endpoint: 'strict-1', identity: PSK.identity, key: new PskKey(Buffer.from(PSK.key)) },
]);
const DEVICE = {
  endpoint: 'strict-1',
  model: 'SIM1',
  version: '1.0.0',
  state: 0,
  result: 0,
  uriPolicy: 'idle-only',
} as const;
const ONE_ATTEMPT = `  strategy:
    failureThreshold: { percent: 100, minUpdates: 1000 }
  retries: { max: 0 }
`;

describe.each(testBackends)('a device over DTLS (node-dtls-client) on $name', (backend) => {
  let scene: Scene | undefined;
  const devices: StrictFirmwareDevice[] = [];
  afterEach(async () => {
    for (const d of devices.splice(0)) await d.close();
    await scene?.close();
    scene = undefined;
  });

  async function start() {
    scene = await Scene.create(backend);
    return scene.startRollout({
      rollout: 'secure',
      pattern: 'strict-*',
      spec: ONE_ATTEMPT,
      controller: { coapsPort: 0, credentials },
    });
  }

  it('registers, is updated through its session end to end, and shows as psk', async () => {
    const { controller } = await start();
    const s = scene!;
    const device = await StrictFirmwareDevice.start({
      ...DEVICE,
      serverPort: controller.coapsPort!,
      psk: PSK,
    });
    devices.push(device);
    await afterPassWhen(controller, async () =>
      (await updatesOf(s.db, 'strict-1')).some((u) => u.finished_at),
    );
    const [update] = await updatesOf(s.db, 'strict-1');
    expect(update).toMatchObject({ phase: 'succeeded' });
    // Package URI written, State/Result observed, Execute, and the new 3/0/3 read: all over DTLS.
    expect(device.writes).toEqual([{ uri: expect.stringMatching(/sim1-2\.0\.0\.bin/), code: '2.04' }]);
    expect(device.version).toBe('2.0.0');

    const row = await s.db
      .selectFrom('devices')
      .select(['security', 'psk_identity', 'firmware_version'])
      .where('endpoint', '=', 'strict-1')
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ security: 'psk', psk_identity: PSK.identity, firmware_version: '2.0.0' });
    const res = await fetch(`http://127.0.0.1:${controller.httpPort}/api/v1/devices/strict-1`);
    expect(((await res.json()) as DeviceDetailView).security).toBe('psk');
  });

  it('refuses the endpoint over plain CoAP (4.03) and records the refusal as an event', async () => {
    const { controller } = await start();
    const s = scene!;
    await expect(StrictFirmwareDevice.start({ ...DEVICE, serverPort: controller.coapPort! })).rejects.toThrow(
      'register answered 4.03',
    );
    await afterPassWhen(controller, async () => {
      const events = await s.db
        .selectFrom('events')
        .select(['type', 'details'])
        .where('endpoint', '=', 'strict-1')
        .execute();
      return events.some((e) => e.type === 'DeviceRegistrationRefused');
    });
    const metrics = await fetch(`http://127.0.0.1:${controller.httpPort}/metrics`);
    expect(await metrics.text()).toMatch(/otactl_registrations_total\{kind="register-refused"\} 1/);
    expect(controller.lwm2m.registration('strict-1')).toBeUndefined();
  });
});
