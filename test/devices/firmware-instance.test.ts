import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DeviceChange } from '../../controller/devices/index.js';
import type { FaultKind } from '../../controller/sim/index.js';
import { testBackends } from '../helpers/databases.js';
import { deviceRow, isInfo, type SyncEnv, startEnv, uniqueEndpoint } from './helpers.js';
import { InstanceDevice, type InstanceDeviceOptions } from './support/instance-device.js';

/**
 * The exchanges a registration costs (issue 20): object 3 is read, and one Observe of the firmware
 * instance /5/0 gives State, Update Result, Protocol Support and Delivery Method, then notifies
 * State and Result together. A device that refuses that gets the single-resource requests.
 */

const hasResult = (why: DeviceChange) => why.kind === 'firmware-state' && why.result !== undefined;

describe('interrogating a registering device', () => {
  let env: SyncEnv;
  const devices: InstanceDevice[] = [];
  beforeAll(async () => {
    // The database plays no part in what is asked of the device: the first backend is enough.
    env = await startEnv(testBackends[0]!);
  });
  afterAll(async () => {
    await Promise.all(devices.map((d) => d.close()));
    await env.close();
  });

  /** Registers a new device (a new socket, as after a reboot) and waits until it was interrogated. */
  async function registered(o: InstanceDeviceOptions): Promise<InstanceDevice> {
    const device = await InstanceDevice.open(env.server.address().port, o);
    devices.push(device);
    const since = env.changes.length;
    await device.register();
    await env.changes.waitFor(o.endpoint, isInfo, since);
    await env.changes.waitFor(o.endpoint, hasResult, since);
    await env.statsWhen((s) => s.interrogations.running === 0 && s.interrogations.waiting === 0);
    await env.sync.flush();
    return device;
  }

  async function expectStored(endpoint: string, version: string, state: number, result: number) {
    expect(await deviceRow(env, endpoint)).toMatchObject({
      firmware_version: version,
      fw_protocol_support: [0, 2],
      fw_delivery_method: 0,
      fw_state: state,
      fw_result: result,
    });
  }

  const tracked = (endpoint: string) => [...env.server.observations.of(endpoint)].map((o) => o.path).sort();

  it('observes /5/0 whole: two exchanges per registration, also the one after an update', async () => {
    const endpoint = uniqueEndpoint('instance');
    const first = await registered({ endpoint });
    expect(first.requests).toEqual(['GET /3/0', 'OBSERVE /5/0']);
    expect(tracked(endpoint)).toEqual(['/5/0']);
    await expectStored(endpoint, '1.0.0', 0, 0);

    // A notification of the instance carries State and Result: they are stored in one write.
    const since = env.changes.length;
    first.set({ '/5/0/3': 3, '/5/0/5': 0 });
    await env.changes.waitFor(endpoint, (why) => why.kind === 'firmware-state', since);
    const reports = env.changes.seen.slice(since).filter((c) => c.endpoint === endpoint);
    expect(reports.map((c) => c.why)).toEqual([{ kind: 'firmware-state', state: 3, result: 0 }]);

    // Installed: it registers again from a new port, on the new version, with Result 1.
    const again = await InstanceDevice.open(env.server.address().port, { endpoint, version: '2.0.0' });
    devices.push(again);
    again.values['/5/0/5'] = 1;
    const sinceAgain = env.changes.length;
    await again.register();
    await env.changes.waitFor(
      endpoint,
      (why) => why.kind === 'info' && why.firmwareVersion === '2.0.0',
      sinceAgain,
    );
    await env.changes.waitFor(endpoint, isResultOne, sinceAgain);
    await env.statsWhen((s) => s.interrogations.running === 0 && s.interrogations.waiting === 0);
    await env.sync.flush();
    expect(again.requests).toEqual(['GET /3/0', 'OBSERVE /5/0']);
    expect(tracked(endpoint)).toEqual(['/5/0']);
    await expectStored(endpoint, '2.0.0', 0, 1);
  });

  it.each<[string, string, Partial<InstanceDeviceOptions>]>([
    ['an error code', 'no-instance-observe', { refuseInstanceObserve: '4.05' }],
    // RFC 7641 (4.1): a success without the Observe option is a refusal, not silence.
    ['2.05 without the Observe option', 'plain-instance-observe', { plainInstanceObserve: true }],
  ])(
    'reads /5/0 and observes State and Result one by one for a device that refuses /5/0 observed with %s',
    async (_, name, refusal) => {
      const endpoint = uniqueEndpoint(name);
      const first = await registered({ endpoint, ...refusal });
      expect(first.requests).toEqual([
        'GET /3/0',
        'OBSERVE /5/0',
        'GET /5/0',
        'OBSERVE /5/0/3',
        'OBSERVE /5/0/5',
      ]);
      expect(tracked(endpoint)).toEqual(['/5/0/3', '/5/0/5']);
      await expectStored(endpoint, '1.0.0', 0, 0);
      // Remembered: its next registration does not ask again.
      const again = await registered({ endpoint, ...refusal });
      expect(again.requests).toEqual(['GET /3/0', 'GET /5/0', 'OBSERVE /5/0/3', 'OBSERVE /5/0/5']);
      expect(tracked(endpoint)).toEqual(['/5/0/3', '/5/0/5']);
    },
  );

  it('asks a device that refuses /5/0 altogether what it was always asked', async () => {
    const endpoint = uniqueEndpoint('no-instance-read');
    const first = await registered({ endpoint, refuseInstanceRead: '4.00' });
    expect(first.requests).toEqual([
      'GET /3/0',
      'OBSERVE /5/0',
      'GET /5/0',
      'GET /5/0/8',
      'GET /5/0/9',
      'OBSERVE /5/0/3',
      'OBSERVE /5/0/5',
    ]);
    expect(tracked(endpoint)).toEqual(['/5/0/3', '/5/0/5']);
    await expectStored(endpoint, '1.0.0', 0, 0);
    const again = await registered({ endpoint, refuseInstanceRead: '4.00' });
    expect(again.requests).toEqual([
      'GET /3/0',
      'GET /5/0/8',
      'GET /5/0/9',
      'OBSERVE /5/0/3',
      'OBSERVE /5/0/5',
    ]);
  });

  it.each<[FaultKind, string[]]>([
    ['no-instance-observe', ['/5/0/3', '/5/0/5']],
    ['no-instance-read', ['/5/0/3', '/5/0/5']],
    ['plain-instance-observe', ['/5/0/3', '/5/0/5']],
  ])(
    'stores what a simulated device with %s reports, observed one resource at a time',
    async (fault, paths) => {
      const device = env.device({ faults: new Map([[fault, undefined]]) });
      const since = env.changes.length;
      await device.start();
      await env.changes.waitFor(device.endpoint, isInfo, since);
      await env.changes.waitFor(device.endpoint, hasResult, since);
      await env.sync.flush();
      expect(tracked(device.endpoint)).toEqual(paths);
      expect(await deviceRow(env, device.endpoint)).toMatchObject({
        manufacturer: 'otactl',
        firmware_version: '1.0.0',
        fw_protocol_support: [0, 2, 3],
        fw_delivery_method: 0,
        fw_state: 0,
        fw_result: 0,
      });
    },
  );
});

function isResultOne(why: DeviceChange): boolean {
  return why.kind === 'firmware-state' && why.result === 1;
}
